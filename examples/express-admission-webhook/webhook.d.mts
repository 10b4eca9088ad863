import type { Server } from 'node:https';
import type { AdmissionOptions } from '@apiserver-token/core';
import type { ApiserverTokenMiddleware, ExpressVerifyApiserverTokenOptions } from '@apiserver-token/express';
import type { Express } from 'express';

/** Options of {@link createApp}. */
export interface WebhookOptions {
  /**
   * Options of verifyApiserverToken(); each can also come from an APISERVER_TOKEN_* variable.
   * Restrict callers with `policy.serviceAccounts` (`namespace:name`) or
   * `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`. Default `{}` with `respond: 'admission-review'`.
   */
  auth?: ExpressVerifyApiserverTokenOptions;
  /** Label every Deployment must carry. Default `'team'`. */
  requiredLabel?: string;
  /** Largest AdmissionReview accepted. Default `'3mb'`. */
  bodyLimit?: string;
  /**
   * KEP-6060 admission-aware verification (attested API groups, optionally the bound webhook
   * configuration). Also `APISERVER_TOKEN_ADMISSION=true`. Default: off.
   */
  admission?: boolean | AdmissionOptions;
  /** Receives one event per request. Default: a JSON line on stdout. */
  log?: (event: Record<string, unknown>) => void;
}

/** Options of {@link startServer}. */
export interface ServerOptions extends WebhookOptions {
  /** PEM certificate and key, or their paths (re-read every `tlsReloadInterval`). */
  tls: { cert: string | Buffer; key: string | Buffer } | { certFile: string; keyFile: string };
  /** Default 8443; 0 picks a free port. */
  port?: number;
  /** Default `'0.0.0.0'`. */
  host?: string;
  /** Milliseconds between certificate reloads from files. Default 60000. */
  tlsReloadInterval?: number;
}

/** A running webhook. */
export interface RunningWebhook {
  app: Express;
  guard: ApiserverTokenMiddleware;
  server: Server;
  port: number;
  /** `https://<host>:<port>` */
  url: string;
  close(): Promise<void>;
}

export function createApp(options?: WebhookOptions): { app: Express; guard: ApiserverTokenMiddleware };
export function decide(
  request: unknown,
  requiredLabel: string,
): { allowed: true } | { allowed: false; message: string };
export function startServer(options: ServerOptions): Promise<RunningWebhook>;
