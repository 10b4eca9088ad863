/**
 * A plain webhook-like HTTP server on 127.0.0.1 that verifies each request's bearer token with a
 * verifier and answers 200 with the identity or the verifier's rendered error, plus a client to
 * call it over real sockets.
 */
import { Agent, createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiserverTokenVerifier } from '../../src/index.js';
import { renderError } from '../../src/index.js';

export interface VerifyingServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startVerifyingServer(verifier: ApiserverTokenVerifier): Promise<VerifyingServer> {
  const server = createServer((req, res) => {
    verifier.verify({ headers: req.headers, rawHeaders: req.rawHeaders }).then(
      (identity) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(identity));
      },
      (error: unknown) => {
        const rendered = renderError(error);
        res.writeHead(rendered.status, rendered.headers);
        res.end(JSON.stringify(rendered.body));
      },
    );
  });
  server.maxConnections = 20_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/validate`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CallResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  ms: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** POST to the server with `Authorization: Bearer <token>`; `abortAfterMs` drops the connection early. */
export function call(
  url: string,
  token: string,
  options: { abortAfterMs?: number } = {},
): Promise<CallResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: options.abortAfterMs === undefined ? agent : false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
            ms: performance.now() - started,
          });
        });
      },
    );
    req.on('error', reject);
    if (options.abortAfterMs !== undefined)
      setTimeout(() => req.destroy(new Error('aborted by the test')), options.abortAfterMs);
    req.end('{}');
  });
}

/** Run `tasks` with at most `concurrency` at a time. */
export async function pool<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}
