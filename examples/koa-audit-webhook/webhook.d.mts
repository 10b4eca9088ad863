import type { Server } from 'node:https';
import type { ApiserverIdentity } from '@apiserver-token/core';
import type { ApiserverTokenMiddleware, KoaVerifyApiserverTokenOptions } from '@apiserver-token/koa';
import type Koa from 'koa';

/** Options of {@link createApp}. */
export interface WebhookOptions {
  /**
   * Options of verifyApiserverToken(); each can also come from an APISERVER_TOKEN_* variable.
   * Restrict who may send events with `policy.serviceAccounts` (`namespace:name`) or
   * `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`. Default `{}`.
   */
  auth?: KoaVerifyApiserverTokenOptions;
  /** Path of the audit endpoint. Default `'/audit'`. */
  path?: string;
  /** Largest EventList accepted. Default `'16mb'`. */
  bodyLimit?: string;
  /** Receives one record per audit event and per rejected batch. Default: a JSON line on stdout. */
  log?: (record: Record<string, unknown>) => void;
}

/** Options of {@link startServer}. */
export interface ServerOptions extends WebhookOptions {
  /** PEM certificate and key, or their paths. */
  tls: { cert: string | Buffer; key: string | Buffer } | { certFile: string; keyFile: string };
  /** Default 8443; 0 picks a free port. */
  port?: number;
  /** Default `'0.0.0.0'`. */
  host?: string;
}

/** A running webhook. */
export interface RunningWebhook {
  app: Koa;
  guard: ApiserverTokenMiddleware;
  server: Server;
  port: number;
  /** `https://<host>:<port>` */
  url: string;
  close(): Promise<void>;
}

export function createApp(options?: WebhookOptions): { app: Koa; guard: ApiserverTokenMiddleware };
export function summarize(event: unknown, caller: ApiserverIdentity): Record<string, unknown>;
export function startServer(options: ServerOptions): Promise<RunningWebhook>;
