/**
 * A CRD conversion webhook for `widgets.example.com` (v1alpha1 <-> v1), protected by
 * @apiserver-token/fastify: a ConversionReview is converted only if the request carries a valid
 * service-account token presented by the cluster's kube-apiserver for this webhook.
 *
 * `buildApp()` builds the Fastify app, `startServer()` serves it over HTTPS; server.mjs (the
 * container entry point) and the tests use both.
 */
import { readFileSync } from 'node:fs';
import { fastifyApiserverToken } from '@apiserver-token/fastify';
import Fastify from 'fastify';
import { answerConversionReview, isConversionReview } from './convert.mjs';

/**
 * @typedef {object} WebhookOptions
 * @property {import('@apiserver-token/fastify').FastifyApiserverTokenOptions} [auth]
 *   Options of the plugin (audience, issuer, jwks, …). Each can also come from an
 *   APISERVER_TOKEN_* variable. Restrict who may call with `auth.policy.serviceAccounts`
 *   (`namespace:name`) or `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`. Default: `{}`.
 * @property {number} [bodyLimit] Largest ConversionReview accepted, in bytes. Default: 8 MiB (a
 *   list conversion carries every object of the list).
 * @property {(event: Record<string, unknown>) => void} [log] Receives one event per request. Default: a JSON line on stdout.
 * @property {{ cert: string | Buffer, key: string | Buffer }} [https] Serve HTTPS with this
 *   certificate. Default: plain HTTP (for `inject()`).
 */

/** @param {Record<string, unknown>} event */
const logJsonLine = (event) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);

/**
 * Builds the webhook app (not listening).
 * @param {WebhookOptions} [options]
 */
export async function buildApp(options = {}) {
  const { auth = {}, bodyLimit = 8 * 1024 * 1024, log = logJsonLine, https } = options;
  const app = Fastify({
    bodyLimit,
    ...(https === undefined ? {} : { https: { cert: https.cert, key: https.key, minVersion: 'TLSv1.2' } }),
  });

  app.get('/healthz', async () => ({ ok: true }));

  // Only the routes registered in this scope are guarded; /healthz above stays open.
  await app.register(async (scope) => {
    await scope.register(fastifyApiserverToken, {
      ...auth,
      onRejected(error, request) {
        // The precise reason is for our logs only; the token itself never appears anywhere.
        log({
          event: 'rejected',
          code: typeof error === 'object' && error !== null && 'code' in error ? error.code : 'unexpected',
          reason: error instanceof Error ? error.message : String(error),
          remote: request.ip,
        });
      },
    });

    scope.post('/convert', async (request, reply) => {
      const review = /** @type {any} */ (request.body);
      if (!isConversionReview(review)) {
        return reply.code(400).send({
          error: 'bad_request',
          error_description: 'expected an apiextensions.k8s.io/v1 ConversionReview',
        });
      }
      const answer = answerConversionReview(review);
      const caller = /** @type {import('@apiserver-token/core').ApiserverIdentity} */ (request.apiserver);
      log({
        event: 'converted',
        caller: caller.username,
        token: caller.tokenFingerprint,
        uid: review.request.uid,
        desiredAPIVersion: review.request.desiredAPIVersion,
        objects: review.request.objects.length,
        result: answer.response.result.status,
      });
      return answer;
    });
  });

  return app;
}

/**
 * @typedef {Omit<WebhookOptions, 'https'> & {
 *   tls: { cert: string | Buffer, key: string | Buffer } | { certFile: string, keyFile: string },
 *   port?: number,
 *   host?: string,
 * }} ServerOptions
 * `port` default 8443 (0 picks a free one); `host` default `'0.0.0.0'`.
 */

/**
 * Starts the webhook over HTTPS. Resolves once listening; `close()` also closes the verifier.
 * @param {ServerOptions} options
 */
export async function startServer(options) {
  const { tls, port = 8443, host = '0.0.0.0', ...appOptions } = options;
  const https =
    'certFile' in tls
      ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }
      : { cert: tls.cert, key: tls.key };
  const app = await buildApp({ ...appOptions, https });
  await app.listen({ port, host });
  const address = /** @type {import('node:net').AddressInfo} */ (app.server.address());
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    app,
    port: address.port,
    url: `https://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${address.port}`,
    close: () => app.close(),
  };
}
