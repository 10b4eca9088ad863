import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  connect as http2Connect,
} from 'node:http2';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type TLSSocket,
  type ConnectionOptions as TlsConnectionOptions,
  connect as tlsConnect,
} from 'node:tls';
import { gunzipSync } from 'node:zlib';

/** A group/version/kind or group/version/resource, as AdmissionReview carries them. */
export interface GroupVersionKind {
  /** API group; `''` is the core group. Default `''`. */
  group?: string;
  version: string;
  kind: string;
}

/** See {@link GroupVersionKind}. */
export interface GroupVersionResource {
  /** API group; `''` is the core group. Default `''`. */
  group?: string;
  version: string;
  resource: string;
}

/** Options of {@link admissionReview}. */
export interface AdmissionReviewOptions {
  /** Request uid echoed by the webhook's response. Default: a random UUID. */
  uid?: string;
  /** Default `'CREATE'`. */
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  /** Object name. */
  name?: string;
  /** Object namespace (omit for cluster-scoped objects). */
  namespace?: string;
  /** The object; default `null`. */
  object?: unknown;
  /** The previous object (UPDATE, DELETE); default `null`. */
  oldObject?: unknown;
  /** Who made the request. Default: `{ username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] }`. */
  userInfo?: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  /** Default `false`. */
  dryRun?: boolean;
  /** Default: `CreateOptions` / `UpdateOptions` / `DeleteOptions` matching the operation. */
  options?: unknown;
}

const OPTIONS_KIND: Record<string, string | undefined> = {
  CREATE: 'CreateOptions',
  UPDATE: 'UpdateOptions',
  DELETE: 'DeleteOptions',
};

/** An `admission.k8s.io/v1` AdmissionReview in the layout kube-apiserver sends (fields in its order). */
export function admissionReview(options: AdmissionReviewOptions): Record<string, unknown> {
  const operation = options.operation ?? 'CREATE';
  const kind = { group: options.kind.group ?? '', version: options.kind.version, kind: options.kind.kind };
  const resource = {
    group: options.resource.group ?? '',
    version: options.resource.version,
    resource: options.resource.resource,
  };
  const optionsKind = OPTIONS_KIND[operation];
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: options.uid ?? randomUUID(),
      kind,
      resource,
      ...(options.subResource ? { subResource: options.subResource } : {}),
      requestKind: kind,
      requestResource: resource,
      ...(options.subResource ? { requestSubResource: options.subResource } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      operation,
      userInfo: options.userInfo ?? {
        username: 'kubernetes-admin',
        groups: ['system:masters', 'system:authenticated'],
      },
      object: options.object ?? null,
      oldObject: options.oldObject ?? null,
      dryRun: options.dryRun ?? false,
      options:
        options.options !== undefined
          ? options.options
          : optionsKind
            ? { kind: optionsKind, apiVersion: 'meta.k8s.io/v1' }
            : null,
    },
  };
}

/** Options of {@link TestApiserver.callWebhook}. */
export interface CallWebhookOptions {
  /** The bearer token kube-apiserver would send (from its admission kubeconfig or KEP-6060). Default: none. */
  token?: string;
  /** The body: an AdmissionReview ({@link admissionReview}) or any JSON. */
  body: unknown;
  /** CA(s) trusted for an `https:` webhook. Default: the kit's CA (use `issueServerCertificate` for the webhook). */
  ca?: string | string[];
  /** Client certificate to present (kube-apiserver's `--proxy-client-cert-file` style). */
  cert?: { cert: string; key: string };
  /** Webhook `timeoutSeconds`: sent as `?timeout=<n>s` and enforced. Default 10 (the Kubernetes default). */
  timeoutSeconds?: number;
}

/** A webhook's answer. */
export interface WebhookResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Body as text (gzip decoded). */
  text: string;
  /** Body parsed as JSON, or undefined if it is not JSON. */
  json: unknown;
}

const ALPN = ['h2', 'http/1.1'];
const H2_IDLE_MS = 1000;

type HttpsTarget = {
  host: string;
  port: number;
  ca?: string | string[];
  cert?: { cert: string; key: string };
};

/** One pool per webhook origin and TLS identity, like Go's transport (the agent's own key adds the rest). */
function poolKey(t: HttpsTarget): string {
  return JSON.stringify([t.host, t.port, t.ca ?? null, t.cert?.cert ?? null]);
}

function tlsOptions(t: HttpsTarget): TlsConnectionOptions {
  return {
    host: t.host,
    port: t.port,
    // No SNI for an IP address, as recorded.
    ...(isIP(t.host) === 0 ? { servername: t.host } : {}),
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert ? { cert: t.cert.cert, key: t.cert.key } : {}),
    ALPNProtocols: ALPN,
  };
}

/**
 * The https agent of the HTTP/1.1 calls. Its connections offer `h2, http/1.1` as kube-apiserver's
 * do; the first connection to a webhook is opened by {@link WebhookAgents} to learn the protocol
 * and, when the webhook chose HTTP/1.1, handed to this agent so that no extra connection is made.
 */
class AdmissionHttpsAgent extends HttpsAgent {
  readonly handoff = new Map<string, TLSSocket>();

  override createConnection(options: TlsConnectionOptions & HttpsTarget): Duplex {
    const key = poolKey({
      host: String(options.host),
      port: Number(options.port),
      ...(options.ca !== undefined ? { ca: options.ca as string | string[] } : {}),
      ...(options.cert ? { cert: { cert: String(options.cert), key: String(options.key) } } : {}),
    });
    const waiting = this.handoff.get(key);
    if (waiting) {
      this.handoff.delete(key);
      return waiting;
    }
    return tlsConnect({ ...options, ALPNProtocols: ALPN });
  }
}

/**
 * The connections of kube-apiserver's admission client, owned by the kit and closed by its
 * `close()`: kept alive between calls (one TLS connection carried all seven recorded calls),
 * HTTP/2 when the webhook offers it over ALPN (as recorded), HTTP/1.1 otherwise.
 */
export class WebhookAgents {
  readonly http = new HttpAgent({ keepAlive: true });
  readonly https = new AdmissionHttpsAgent({ keepAlive: true });
  readonly #protocols = new Map<string, 'h2' | 'http/1.1'>();
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #learning = new Map<string, Promise<{ h2: ClientHttp2Session } | { http1: true }>>();
  /** First connections still being opened: a close() meanwhile must end them too. */
  readonly #connecting = new Set<TLSSocket>();
  #closed = false;

  /** Refuses a call once the kit is closed: its connections would outlive it. */
  assertOpen(): void {
    if (this.#closed) throw new Error('the test apiserver is closed: callWebhook is no longer possible');
  }

  /**
   * How to reach an https webhook: an HTTP/2 session, or the HTTP/1.1 agent (a first connection
   * handed over). `timeoutSeconds` bounds the connection and TLS handshake, as the call's timeout.
   */
  async route(t: HttpsTarget, timeoutSeconds: number): Promise<{ h2: ClientHttp2Session } | { http1: true }> {
    const key = poolKey(t);
    const session = this.#sessions.get(key);
    if (session && !session.closed && !session.destroyed) return { h2: session };
    if (this.#protocols.get(key) === 'http/1.1') return { http1: true };
    // Calls made while the first connection learns the protocol wait for it: each opening its own
    // would leave all but one handed-over socket (or session) unowned, open past the kit's close().
    const learning = this.#learning.get(key);
    if (learning !== undefined) {
      await learning.catch(() => undefined);
      return this.route(t, timeoutSeconds);
    }
    const learned = this.#learn(t, key, timeoutSeconds);
    this.#learning.set(key, learned);
    try {
      return await learned;
    } finally {
      this.#learning.delete(key);
    }
  }

  async #learn(
    t: HttpsTarget,
    key: string,
    timeoutSeconds: number,
  ): Promise<{ h2: ClientHttp2Session } | { http1: true }> {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect(tlsOptions(t), () => {
        s.off('error', reject);
        s.setTimeout(0);
        this.#connecting.delete(s);
        resolve(s);
      });
      this.#connecting.add(s);
      s.once('error', (error) => {
        this.#connecting.delete(s);
        reject(error);
      });
      // A webhook that accepts the connection and never completes TLS must not hold the call forever.
      s.setTimeout(timeoutSeconds * 1000, () =>
        s.destroy(new Error(`webhook did not answer within ${timeoutSeconds}s`)),
      );
    });
    if (this.#closed) {
      socket.destroy();
      this.assertOpen();
    }
    if (socket.alpnProtocol !== 'h2') {
      this.#protocols.set(key, 'http/1.1');
      this.https.handoff.set(key, socket);
      return { http1: true };
    }
    this.#protocols.set(key, 'h2');
    const origin = `https://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
    const opened = http2Connect(origin, { createConnection: () => socket });
    // An idle session is closed after a second: a webhook's http2 server.close() waits for open
    // sessions (unlike HTTP/1.1, whose idle connections it closes), and tests close it before the kit.
    opened.setTimeout(H2_IDLE_MS, () => opened.close());
    opened.on('error', () => this.#sessions.delete(key));
    opened.on('close', () => {
      if (this.#sessions.get(key) === opened) this.#sessions.delete(key);
    });
    this.#sessions.set(key, opened);
    return { h2: opened };
  }

  destroy(): void {
    this.#closed = true;
    for (const socket of this.#connecting) socket.destroy(new Error('the test apiserver is closed'));
    this.#connecting.clear();
    this.http.destroy();
    this.https.destroy();
    for (const socket of this.https.handoff.values()) socket.destroy();
    this.https.handoff.clear();
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }
}

/**
 * POSTs to a webhook the way kube-apiserver does: `?timeout=<n>s` appended and the recorded
 * headers in the recorded order and spelling. HTTP/1.1 (Go's canonical names): `Host`,
 * `User-Agent: kube-apiserver-admission`, `Content-Length`, `Accept: application/json, *\/*`,
 * `Authorization: Bearer <token>` when a token is given, `Content-Type: application/json`,
 * `Accept-Encoding: gzip`, and no `Connection` header. HTTP/2 (when the webhook offers it):
 * `:authority`, `:method`, `:path`, `:scheme`, then `accept`, `content-type`, `user-agent`,
 * `authorization`, `content-length`, `accept-encoding`. Connections are kept alive.
 */
export async function callWebhook(
  url: string,
  options: CallWebhookOptions & { ca?: string | string[] },
  agents: WebhookAgents,
): Promise<WebhookResponse> {
  // A kept-alive connection the webhook closed while idle fails before any answer; Go's transport
  // then retries on another connection (nothing was written), and so does the kit.
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(url, options, agents);
    } catch (error) {
      if (error instanceof ReusedSocketError && attempt < 3) continue;
      throw error instanceof ReusedSocketError ? error.cause : error;
    }
  }
}

class ReusedSocketError extends Error {
  override readonly cause: Error;
  constructor(cause: Error) {
    super(cause.message);
    this.cause = cause;
  }
}

function decode(status: number, headers: IncomingHttpHeaders, chunks: Buffer[]): WebhookResponse {
  let raw = Buffer.concat(chunks);
  if (headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
  const text = raw.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

async function send(
  url: string,
  options: CallWebhookOptions & { ca?: string | string[] },
  agents: WebhookAgents,
): Promise<WebhookResponse> {
  const target = new URL(url);
  const timeout = options.timeoutSeconds ?? 10;
  target.searchParams.set('timeout', `${timeout}s`);
  const payload = Buffer.from(JSON.stringify(options.body));
  const https = target.protocol === 'https:';
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const tlsTarget: HttpsTarget = {
    host,
    port: Number(target.port || 443),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.cert ? { cert: options.cert } : {}),
  };
  agents.assertOpen();
  const route = https ? await agents.route(tlsTarget, timeout) : ({ http1: true } as const);
  agents.assertOpen();
  if ('h2' in route) return sendH2(route.h2, target, payload, options.token, timeout);

  const headers: Record<string, string> = {
    Host: target.host,
    'User-Agent': 'kube-apiserver-admission',
    'Content-Length': String(payload.length),
    Accept: 'application/json, */*',
    ...(options.token !== undefined ? { Authorization: `Bearer ${options.token}` } : {}),
    'Content-Type': 'application/json',
    'Accept-Encoding': 'gzip',
  };
  const sendRequest = https ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = sendRequest(
      target,
      {
        method: 'POST',
        headers,
        agent: https ? agents.https : agents.http,
        timeout: timeout * 1000,
        ...(https
          ? {
              ...(options.ca !== undefined ? { ca: options.ca } : {}),
              ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
              ...(isIP(host) === 0 ? { servername: host } : {}),
            }
          : {}),
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve(decode(res.statusCode ?? 0, res.headers, chunks));
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`webhook did not answer within ${timeout}s`)));
    req.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      reject(
        req.reusedSocket && !answered && (code === 'ECONNRESET' || code === 'EPIPE')
          ? new ReusedSocketError(error)
          : error,
      );
    });
    // Go's client sends no `Connection` header; Node writes `Connection: keep-alive` unless the
    // header is removed. HTTP/1.1 persists without it, so the socket still returns to the agent's
    // pool and the next call rides the same connection, as kube-apiserver's does.
    req.removeHeader('connection');
    req.end(payload);
  });
}

function sendH2(
  session: ClientHttp2Session,
  target: URL,
  payload: Buffer,
  token: string | undefined,
  timeout: number,
): Promise<WebhookResponse> {
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({
        ':authority': target.host,
        ':method': 'POST',
        ':path': `${target.pathname}${target.search}`,
        ':scheme': 'https',
        accept: 'application/json, */*',
        'content-type': 'application/json',
        'user-agent': 'kube-apiserver-admission',
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
        'content-length': String(payload.length),
        'accept-encoding': 'gzip',
      });
    } catch (error) {
      // The session went away between calls (GOAWAY, a closed socket): a new one is opened.
      reject(new ReusedSocketError(error as Error));
      return;
    }
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.setTimeout(timeout * 1000, () => {
      reject(new Error(`webhook did not answer within ${timeout}s`));
      stream.close(constants.NGHTTP2_CANCEL);
    });
    stream.on('response', (h) => {
      status = Number(h[':status'] ?? 0);
      headers = Object.fromEntries(
        Object.entries(h).filter(([k]) => !k.startsWith(':')),
      ) as IncomingHttpHeaders;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error) => {
      // Only a session that went away before answering is retried on a new one.
      const gone =
        status === 0 &&
        (session.closed ||
          session.destroyed ||
          ['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION', 'ECONNRESET'].includes(
            String((error as NodeJS.ErrnoException).code),
          ));
      reject(gone ? new ReusedSocketError(error) : error);
    });
    stream.on('end', () => {
      try {
        resolve(decode(status, headers, chunks));
      } catch (error) {
        reject(error);
      }
    });
    stream.end(payload);
  });
}
