import type { ApiserverTokenMiddleware, ExpressVerifyApiserverTokenOptions } from '@apiserver-token/express';
import type { Registry } from 'prom-client';

/** Options of {@link startWebhook}. */
export interface ObservedWebhookOptions {
  /** Options of verifyApiserverToken() (audience, issuer, jwks, …); `metrics` is set by the example. Default `{}`. */
  auth?: ExpressVerifyApiserverTokenOptions;
  /** Serve the webhook over HTTPS; without it, plain HTTP. Default: none. */
  tls?: { certFile: string; keyFile: string };
  /** Webhook port; 0 picks one. Default `8443`. */
  port?: number;
  /** Metrics port (`GET /metrics`); 0 picks one. Default `9090`. */
  metricsPort?: number;
  /** Address both listen on. Default: all interfaces. */
  host?: string;
}

export interface ObservedWebhook {
  port: number;
  metricsPort: number;
  guard: ApiserverTokenMiddleware;
  /** The registry the verifier counts into (with prom-client's default process metrics). */
  registry: Registry;
  close(): Promise<void>;
}

/** Starts the webhook and its metrics port. */
export function startWebhook(options?: ObservedWebhookOptions): Promise<ObservedWebhook>;
