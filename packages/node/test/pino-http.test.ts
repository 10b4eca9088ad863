/**
 * On plain node:http with pino-http, the guard logs each request's verdict through `req.log`, so
 * the line carries pino-http's request id. Real pino writing to a captured stream, a real socket.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiserverTokenGuard } from '@apiserver-token/node';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { afterAll, expect, it } from 'vitest';
import { captureLog } from '../../../test/helpers/log-capture.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';

const kit = useTestApiserver();
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

it('logs each verdict through req.log with the request id: verified at debug, forged at info, never the token', async () => {
  const { stream, raw } = captureLog();
  const logged = pinoHttp({
    logger: pino({ level: 'debug', redact: ['req.headers.authorization'] }, stream),
  });
  const guard = createApiserverTokenGuard(kit.options);
  const server = createServer(async (req, res) => {
    logged(req, res);
    const identity = await guard(req, res);
    if (identity === undefined) return;
    res.end(JSON.stringify({ username: identity?.username ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () => guard.close(),
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await kit.mint();
  const forged = `${token.slice(0, -4)}AAAA`;
  const post = (tag: string, bearer: string) =>
    fetch(`${url}/validate?tag=${tag}`, { method: 'POST', headers: { authorization: `Bearer ${bearer}` } });
  expect((await post('genuine', token)).status).toBe(200);
  expect((await post('forged', forged)).status).toBe(401);

  const lines = raw.map(
    (text) => JSON.parse(text) as Record<string, unknown> & { req?: { id?: unknown; url?: string } },
  );
  const ours = (tag: string) =>
    lines.filter(
      (line) => String(line.msg).startsWith('apiserver-token:') && line.req?.url?.endsWith(`=${tag}`),
    );
  expect(ours('genuine')).toEqual([
    expect.objectContaining({ level: 20, msg: 'apiserver-token: request verified', verifiedBy: 'jwks' }),
  ]);
  expect(ours('forged')).toEqual([
    expect.objectContaining({
      level: 30,
      code: 'invalid_signature',
      fingerprint: expect.stringMatching(/^[\w-]{16}$/),
    }),
  ]);
  expect(ours('forged')[0]?.req?.id).toBeDefined();
  expect(ours('forged')[0]?.req?.id).not.toEqual(ours('genuine')[0]?.req?.id);
  expect(raw.join('\n')).not.toContain(token.split('.')[2]);
  expect(raw.join('\n')).not.toContain(forged.split('.')[2]);
});
