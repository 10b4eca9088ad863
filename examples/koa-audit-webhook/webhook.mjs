/**
 * An audit webhook backend protected by @apiserver-token/koa: kube-apiserver's audit webhook
 * (`--audit-webhook-config-file`) POSTs batches of audit events (`audit.k8s.io/v1` EventList)
 * here, and only the kube-apiserver may: a batch without a valid token is refused before its
 * body is even read. Each accepted event is logged with the identity of the caller that sent it.
 *
 * `createApp()` builds the Koa app, `startServer()` serves it over HTTPS; server.mjs (the
 * container entry point) and the tests use both.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { verifyApiserverToken } from '@apiserver-token/koa';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';

/**
 * @typedef {object} WebhookOptions
 * @property {import('@apiserver-token/koa').KoaVerifyApiserverTokenOptions} [auth]
 *   Options of verifyApiserverToken() (audience, issuer, jwks, …). Each can also come from an
 *   APISERVER_TOKEN_* variable. Restrict who may send events with `auth.policy.serviceAccounts`
 *   (`namespace:name`) or `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`. Default: `{}`.
 * @property {string} [path] Path the audit webhook kubeconfig's `server` URL points at. Default: `'/audit'`.
 * @property {string} [bodyLimit] Largest EventList accepted. Default: `'16mb'` (a batch of 400
 *   events at the RequestResponse level can be several megabytes).
 * @property {(event: Record<string, unknown>) => void} [log] Receives one record per audit event and
 *   per rejected batch. Default: a JSON line on stdout.
 */

/** @param {Record<string, unknown>} record */
const logJsonLine = (record) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);

/**
 * Builds the webhook app. `guard` is the middleware (with its verifier, `ready()` and `close()`).
 * @param {WebhookOptions} [options]
 */
export function createApp(options = {}) {
  const { auth = {}, path = '/audit', bodyLimit = '16mb', log = logJsonLine } = options;

  const guard = verifyApiserverToken({
    ...auth,
    onRejected(error, ctx) {
      // The precise reason is for our logs only; the token itself never appears anywhere.
      log({
        event: 'rejected',
        code: typeof error === 'object' && error !== null && 'code' in error ? error.code : 'unexpected',
        reason: error instanceof Error ? error.message : String(error),
        remote: ctx.ip,
      });
    },
  });
  // After the guard: an unauthenticated caller cannot make us read and parse megabytes of JSON.
  const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: bodyLimit, encoding: 'utf-8' });

  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/healthz') {
      ctx.body = { ok: true };
    } else if (ctx.method === 'GET' && ctx.path === '/readyz') {
      const ready = await guard.ready().then(
        () => true,
        () => false,
      );
      ctx.status = ready ? 200 : 503;
      ctx.body = { ready };
    } else if (ctx.method === 'POST' && ctx.path === path) {
      await next();
    } else {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
    }
  });
  app.use(guard);
  app.use(parseJson);
  app.use((ctx) => {
    const list = /** @type {{ body?: any }} */ (ctx.request).body;
    if (list?.apiVersion !== 'audit.k8s.io/v1' || list?.kind !== 'EventList' || !Array.isArray(list.items)) {
      ctx.status = 400;
      ctx.body = { error: 'bad_request', error_description: 'expected an audit.k8s.io/v1 EventList' };
      return;
    }
    const caller = /** @type {import('@apiserver-token/core').ApiserverIdentity} */ (ctx.state.apiserver);
    for (const event of list.items) log(summarize(event, caller));
    ctx.body = {};
  });

  return { app, guard };
}

/**
 * One log record per audit event: who did what (from the event) and which apiserver reported it
 * (from the verified token), never the token itself, only its fingerprint.
 * @param {any} event an `audit.k8s.io/v1` Event
 * @param {import('@apiserver-token/core').ApiserverIdentity} caller
 */
export function summarize(event, caller) {
  const ref = event?.objectRef ?? {};
  return {
    event: 'audit',
    reportedBy: caller.username,
    reportedByToken: caller.tokenFingerprint,
    auditID: event?.auditID,
    stage: event?.stage,
    level: event?.level,
    verb: event?.verb,
    user: event?.user?.username,
    resource: [ref.apiGroup, ref.resource].filter(Boolean).join('/') || undefined,
    namespace: ref.namespace,
    name: ref.name,
    requestURI: event?.requestURI,
    code: event?.responseStatus?.code,
  };
}

/**
 * @typedef {WebhookOptions & {
 *   tls: { cert: string | Buffer, key: string | Buffer } | { certFile: string, keyFile: string },
 *   port?: number,
 *   host?: string,
 * }} ServerOptions
 * `port` default 8443 (0 picks a free one); `host` default `'0.0.0.0'`.
 */

/**
 * Starts the webhook over HTTPS. Resolves once listening.
 * @param {ServerOptions} options
 */
export async function startServer(options) {
  const { tls, port = 8443, host = '0.0.0.0', ...appOptions } = options;
  const { app, guard } = createApp(appOptions);
  const pem =
    'certFile' in tls
      ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }
      : { cert: tls.cert, key: tls.key };
  const server = createServer({ ...pem, minVersion: 'TLSv1.2' }, app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(undefined);
    });
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    app,
    guard,
    server,
    port: address.port,
    url: `https://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${address.port}`,
    async close() {
      server.closeIdleConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      await guard.close();
    },
  };
}
