/**
 * A webhook protected by @apiserver-token/express whose verifier counts into a prom-client
 * registry, served for Prometheus on a separate plain-HTTP port (no token needed to scrape, and
 * nothing of the webhook's exposed there).
 *
 * `startWebhook()` is used by server.mjs (the container entry point) and by the tests.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { verifyApiserverToken } from '@apiserver-token/express';
import express from 'express';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * @typedef {object} ObservedWebhookOptions
 * @property {import('@apiserver-token/express').ExpressVerifyApiserverTokenOptions} [auth]
 *   Options of verifyApiserverToken() (audience, issuer, jwks, …); `APISERVER_TOKEN_*` variables
 *   fill what is not given. `metrics` is set here. Default: `{}`.
 * @property {{ certFile: string, keyFile: string }} [tls] Serve the webhook over HTTPS (as the
 *   apiserver requires); without it, plain HTTP (tests, or TLS terminated in front). Default: none.
 * @property {number} [port] Webhook port; 0 picks one. Default: `8443`.
 * @property {number} [metricsPort] Metrics port (`GET /metrics`); 0 picks one. Default: `9090`.
 * @property {string} [host] Address both listen on. Default: all interfaces.
 */

/** @param {import('node:net').Server} server @param {number} port @param {string | undefined} host */
function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () =>
      resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port),
    );
  });
}

/** @param {ObservedWebhookOptions} [options] */
export async function startWebhook(options = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const guard = verifyApiserverToken({ ...options.auth, metrics: { registry } });

  const app = express();
  app.post('/validate', guard, express.json(), (req, res) => {
    res.json({ caller: req.apiserver?.username });
  });
  const webhook = options.tls
    ? createHttpsServer(
        { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) },
        app,
      )
    : createHttpServer(app);

  const metrics = createHttpServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error) => res.writeHead(500).end(String(error?.message ?? error)),
    );
  });

  const port = await listen(webhook, options.port ?? 8443, options.host);
  const metricsPort = await listen(metrics, options.metricsPort ?? 9090, options.host);
  return {
    port,
    metricsPort,
    guard,
    registry,
    async close() {
      for (const server of [webhook, metrics]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await guard.close();
    },
  };
}
