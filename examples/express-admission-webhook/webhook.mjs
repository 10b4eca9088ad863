/**
 * A validating admission webhook protected by @apiserver-token/express.
 *
 * `createApp()` builds the Express app, `startServer()` serves it over HTTPS. server.mjs (the
 * container entry point), demo.mjs and the tests all use these two functions.
 *
 * Policy: a Deployment must carry the label `requiredLabel` (default `team`); everything else
 * the webhook is sent is allowed. The caller must prove it is the kube-apiserver first: a
 * request without a valid token never reaches the policy.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { verifyApiserverToken } from '@apiserver-token/express';
import express from 'express';

/**
 * @typedef {object} WebhookOptions
 * @property {import('@apiserver-token/express').ExpressVerifyApiserverTokenOptions} [auth]
 *   Options of verifyApiserverToken() (audience, issuer, jwks, …). Each can also come from an
 *   APISERVER_TOKEN_* variable. Restrict who may call with `auth.policy.serviceAccounts`
 *   (`namespace:name`) or `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`. Default: `{}` plus
 *   `respond: 'admission-review'`.
 * @property {string} [requiredLabel] Label every Deployment must carry. Default: `'team'`.
 * @property {string} [bodyLimit] Largest AdmissionReview accepted. Default: `'3mb'` (kube-apiserver's own request limit).
 * @property {boolean | import('@apiserver-token/core').AdmissionOptions} [admission] KEP-6060
 *   admission-aware verification: a token bound to a webhook configuration must be attested for
 *   the reviewed resource's API group (and, with `boundTo`, be bound to this webhook's
 *   configuration). Also `APISERVER_TOKEN_ADMISSION=true`. Default: off.
 * @property {(event: Record<string, unknown>) => void} [log] Receives one event per request. Default: a JSON line on stdout.
 */

/** @param {Record<string, unknown>} event */
const logJsonLine = (event) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);

/**
 * Builds the webhook app. `guard` is the middleware (with its verifier, `ready()` and `close()`).
 * @param {WebhookOptions} [options]
 */
export function createApp(options = {}) {
  const { auth = {}, requiredLabel = 'team', bodyLimit = '3mb', admission, log = logJsonLine } = options;

  const guard = verifyApiserverToken({
    // A denial AdmissionReview rather than a bare 401: should the apiserver's own token be refused
    // (wrong audience, stale token file), the object is denied even under `failurePolicy: Ignore`,
    // where an HTTP error would let it through. A forger calling us directly admits nothing either way.
    respond: 'admission-review',
    ...(admission !== undefined && { admission }),
    ...auth,
    onRejected(error, req) {
      // The precise reason is for our logs only; the token itself never appears anywhere.
      log({
        event: 'rejected',
        code: typeof error === 'object' && error !== null && 'code' in error ? error.code : 'unexpected',
        reason: error instanceof Error ? error.message : String(error),
        uid: req.body?.request?.uid,
        remote: req.socket.remoteAddress,
      });
    },
  });

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', (_req, res) => {
    guard.ready().then(
      () => res.json({ ready: true }),
      () => res.status(503).json({ ready: false }),
    );
  });

  app.post('/validate', express.json({ limit: bodyLimit }), guard, (req, res) => {
    const review = req.body;
    const request = review?.request;
    if (review?.kind !== 'AdmissionReview' || typeof request?.uid !== 'string') {
      res.status(400).json({ error: 'bad_request', error_description: 'expected an AdmissionReview' });
      return;
    }
    const verdict = decide(request, requiredLabel);
    const identity = /** @type {import('@apiserver-token/core').ApiserverIdentity} */ (req.apiserver);
    log({
      event: 'reviewed',
      caller: identity.username,
      verifiedBy: identity.verifiedBy,
      token: identity.tokenFingerprint,
      uid: request.uid,
      operation: request.operation,
      kind: request.kind?.kind,
      namespace: request.namespace,
      name: request.name,
      allowed: verdict.allowed,
    });
    res.json({
      apiVersion: review.apiVersion ?? 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: request.uid,
        allowed: verdict.allowed,
        ...(verdict.allowed
          ? {}
          : { status: { status: 'Failure', code: 403, reason: 'Forbidden', message: verdict.message } }),
      },
    });
  });

  return { app, guard };
}

/**
 * The policy: Deployments must carry `requiredLabel`.
 * @param {any} request the AdmissionReview's `request`
 * @param {string} requiredLabel
 * @returns {{ allowed: true } | { allowed: false, message: string }}
 */
export function decide(request, requiredLabel) {
  // A subresource (deployments/scale, /status) carries another object (a Scale): not a Deployment.
  const isDeployment =
    request.resource?.group === 'apps' &&
    request.resource?.resource === 'deployments' &&
    !request.subResource;
  if (!isDeployment || (request.operation !== 'CREATE' && request.operation !== 'UPDATE'))
    return { allowed: true };
  const labels = request.object?.metadata?.labels ?? {};
  if (typeof labels[requiredLabel] === 'string' && labels[requiredLabel] !== '') return { allowed: true };
  return {
    allowed: false,
    message: `Deployment ${request.namespace}/${request.name ?? request.object?.metadata?.name} must carry the label "${requiredLabel}"`,
  };
}

/**
 * @typedef {WebhookOptions & {
 *   tls: { cert: string | Buffer, key: string | Buffer } | { certFile: string, keyFile: string },
 *   port?: number,
 *   host?: string,
 *   tlsReloadInterval?: number,
 * }} ServerOptions
 * `port` default 8443 (0 picks a free one); `host` default `'0.0.0.0'`; with `certFile`/`keyFile`
 * the files are re-read every `tlsReloadInterval` ms (default 60000) so a renewed certificate
 * needs no restart.
 */

/**
 * Starts the webhook over HTTPS. Resolves once listening.
 * @param {ServerOptions} options
 */
export async function startServer(options) {
  const { tls, port = 8443, host = '0.0.0.0', tlsReloadInterval = 60_000, ...appOptions } = options;
  const { app, guard } = createApp(appOptions);
  const readTls = () =>
    'certFile' in tls
      ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }
      : { cert: tls.cert, key: tls.key };
  const server = createServer({ ...readTls(), minVersion: 'TLSv1.2' }, app);
  // kube-apiserver keeps connections open; don't let idle ones pile up forever.
  server.keepAliveTimeout = 65_000;

  let reload;
  if ('certFile' in tls) {
    reload = setInterval(() => {
      try {
        server.setSecureContext({ ...readTls(), minVersion: 'TLSv1.2' });
      } catch {
        // A half-written renewal: keep serving the previous certificate and retry next tick.
      }
    }, tlsReloadInterval);
    reload.unref();
  }

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
      clearInterval(reload);
      server.closeIdleConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      await guard.close();
    },
  };
}
