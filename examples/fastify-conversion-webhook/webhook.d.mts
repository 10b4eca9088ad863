import type { FastifyApiserverTokenOptions } from '@apiserver-token/fastify';
import type { FastifyInstance } from 'fastify';

/** Options of {@link buildApp}. */
export interface WebhookOptions {
  /**
   * Options of the plugin; each can also come from an APISERVER_TOKEN_* variable. Restrict who may
   * call with `policy.serviceAccounts` (`namespace:name`) or `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`.
   * Default `{}`.
   */
  auth?: FastifyApiserverTokenOptions;
  /** Largest ConversionReview accepted, in bytes. Default 8 MiB. */
  bodyLimit?: number;
  /** Receives one event per request. Default: a JSON line on stdout. */
  log?: (event: Record<string, unknown>) => void;
  /** Serve HTTPS with this certificate. Default: plain HTTP. */
  https?: { cert: string | Buffer; key: string | Buffer };
}

/** Options of {@link startServer}. */
export interface ServerOptions extends Omit<WebhookOptions, 'https'> {
  /** PEM certificate and key, or their paths. */
  tls: { cert: string | Buffer; key: string | Buffer } | { certFile: string; keyFile: string };
  /** Default 8443; 0 picks a free port. */
  port?: number;
  /** Default `'0.0.0.0'`. */
  host?: string;
}

/** A running webhook. */
export interface RunningWebhook {
  app: FastifyInstance;
  port: number;
  /** `https://<host>:<port>` */
  url: string;
  close(): Promise<void>;
}

export function buildApp(options?: WebhookOptions): Promise<FastifyInstance>;
export function startServer(options: ServerOptions): Promise<RunningWebhook>;
