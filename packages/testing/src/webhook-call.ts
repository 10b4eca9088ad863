import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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

/**
 * The connections of kube-apiserver's admission client: kept alive between calls (one TLS
 * connection carried all seven recorded calls), owned by the kit and destroyed by its `close()`.
 */
export class WebhookAgents {
  readonly http = new HttpAgent({ keepAlive: true });
  readonly https = new HttpsAgent({ keepAlive: true });

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/**
 * POSTs to a webhook the way kube-apiserver does: `?timeout=<n>s` appended and the recorded
 * headers in the recorded order and spelling (Go's canonical names): `Host`, `User-Agent:
 * kube-apiserver-admission`, `Content-Length`, `Accept: application/json, *\/*`, `Authorization:
 * Bearer <token>` when a token is given, `Content-Type: application/json`, `Accept-Encoding:
 * gzip`, and no `Connection` header, over a kept-alive connection.
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

function send(
  url: string,
  options: CallWebhookOptions & { ca?: string | string[] },
  agents: WebhookAgents,
): Promise<WebhookResponse> {
  const target = new URL(url);
  const timeout = options.timeoutSeconds ?? 10;
  target.searchParams.set('timeout', `${timeout}s`);
  const payload = Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = {
    Host: target.host,
    'User-Agent': 'kube-apiserver-admission',
    'Content-Length': String(payload.length),
    Accept: 'application/json, */*',
    ...(options.token !== undefined ? { Authorization: `Bearer ${options.token}` } : {}),
    'Content-Type': 'application/json',
    'Accept-Encoding': 'gzip',
  };
  const https = target.protocol === 'https:';
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
          ? { ca: options.ca, ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}) }
          : {}),
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          try {
            let raw = Buffer.concat(chunks);
            if (res.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
            const text = raw.toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
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
