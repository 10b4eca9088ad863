/**
 * With hono-pino in front, the middleware logs each request's verdict through hono-pino's request
 * logger (`c.var.logger`), so the line carries its request binding (`reqId`); a `logger` option
 * takes over from it. Real hono-pino and pino writing to a captured stream, real sockets.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyApiserverToken } from '@apiserver-token/hono';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { pinoLogger } from 'hono-pino';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog, type LogLine } from '../../../test/helpers/log-capture.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';

const kit = useTestApiserver();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function serve(options: Parameters<typeof verifyApiserverToken>[0], withHonoPino: boolean) {
  const { stream, raw, lines } = captureLog();
  const app = new Hono();
  // hono-pino's request id comes from hono/request-id: the test's tag, to find each request's lines.
  app.use(requestId({ generator: (c) => c.req.query('tag') ?? 'untagged' }));
  // hono-pino logs request headers: the Authorization header must be redacted (README says so).
  const logger = pino({ level: 'debug', redact: ['req.headers.authorization'] }, stream);
  if (withHonoPino) app.use(pinoLogger({ pino: logger }));
  const guard = verifyApiserverToken(options);
  app.post('/validate', guard, (c) => c.json({ username: c.var.apiserver.username }));
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await guard.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, raw, lines };
}
const post = (url: string, tag: string, token?: string) =>
  fetch(`${url}/validate?tag=${tag}`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
/**
 * Our line for the request sent with `tag`: hono-pino names the request id only on its completion
 * line, so ours is the one between that line and the previous request's (requests are sent one
 * at a time). It must carry hono-pino's request binding (`req`): logged through `c.var.logger`.
 */
const lineFor = (lines: LogLine[], tag: string) => {
  const end = lines.findIndex((line) => line.msg === 'Request completed' && line.reqId === tag);
  expect(end).toBeGreaterThan(0);
  const start = lines.findLastIndex((line, index) => index < end && line.msg === 'Request completed');
  const ours = lines.slice(start + 1, end).filter((line) => line.msg.startsWith('apiserver-token:'));
  expect(ours).toHaveLength(1);
  expect(ours[0]?.req?.url).toBe('/validate');
  return ours[0] as LogLine;
};

describe('verifyApiserverToken on Hono with hono-pino', () => {
  it('logs through c.var.logger: verified at debug, forged at info, with reqId and fingerprint, never the token', async () => {
    const { url, raw, lines } = await serve(kit.options, true);
    const token = await kit.mint();
    const forged = `${token.slice(0, -4)}AAAA`;
    expect((await post(url, 'genuine', token)).status).toBe(200);
    expect((await post(url, 'forged', forged)).status).toBe(401);
    expect((await post(url, 'none')).status).toBe(401);
    const all = lines();
    const genuine = lineFor(all, 'genuine');
    expect(genuine).toMatchObject({
      level: 20,
      msg: 'apiserver-token: request verified',
      verifiedBy: 'jwks',
    });
    const refused = lineFor(all, 'forged');
    expect(refused).toMatchObject({ level: 30, code: 'invalid_signature', status: 401 });
    expect(refused.fingerprint).toMatch(/^[\w-]{16}$/);
    expect(refused.fingerprint).not.toEqual(genuine.fingerprint);
    expect(lineFor(all, 'none')).toMatchObject({ level: 30, code: 'missing_token' });
    const text = raw.join('\n');
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(forged.split('.')[2]);
  });

  it('with a `logger` option, logs through it instead of c.var.logger', async () => {
    const calls: Array<{ level: string; object: Record<string, unknown> }> = [];
    const at = (level: string) => (object: Record<string, unknown>) => calls.push({ level, object });
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const { url, lines } = await serve({ ...kit.options, logger }, true);
    expect((await post(url, 'none')).status).toBe(401);
    expect(calls.filter((call) => call.object.code === 'missing_token')).toEqual([
      { level: 'info', object: expect.objectContaining({ code: 'missing_token', status: 401 }) },
    ]);
    expect(lines().filter((line) => line.msg.startsWith('apiserver-token:'))).toEqual([]);
  });

  it('without hono-pino nor a logger, per-request verdicts stay quiet', async () => {
    const { url, raw } = await serve(kit.options, false);
    expect((await post(url, 'none')).status).toBe(401);
    expect(raw).toEqual([]);
  });
});
