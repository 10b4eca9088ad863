import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { TokenFileRefresher } from './refresher.js';

/** `[host:]port` → where to listen; the host defaults to all interfaces. */
export function parseListen(value: string): { host: string | undefined; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65_535) {
    throw new TypeError(
      `--listen ${JSON.stringify(value)}: expected [host:]port, e.g. :9090 or 127.0.0.1:9090`,
    );
  }
  const host = match[1] === undefined || match[1] === '' ? undefined : match[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

/** `/healthz` (200 while every file holds an unexpired token, else 503) and `/metrics`. */
export async function startHealthServer(
  refresher: TokenFileRefresher,
  registry: Registry,
  listen: { host: string | undefined; port: number },
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const healthy = refresher.healthy();
      const files = refresher.status().map((status) => ({
        file: status.out,
        audience: status.audience,
        ...(status.current
          ? {
              fingerprint: status.current.fingerprint,
              expiresAt: new Date(status.current.expiresAt).toISOString(),
            }
          : {}),
        consecutiveFailures: status.consecutiveFailures,
        ...(status.lastError !== undefined ? { lastError: status.lastError } : {}),
      }));
      res
        .writeHead(healthy ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ status: healthy ? 'ok' : 'unhealthy', files }));
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(error.message),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, address: server.address() as AddressInfo };
}
