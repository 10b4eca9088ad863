/**
 * With koa-pino-logger in front, the middleware logs each request's verdict through `ctx.log`, so
 * the line carries the request binding (`req.id`); a `logger` option takes over from it. Real
 * pino writing to a captured stream, real sockets, both Koa majors.
 */
import { verifyApiserverToken } from '@apiserver-token/koa';
import koaPinoLogger from 'koa-pino-logger';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog, type LogLine } from '../../../test/helpers/log-capture.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { KOA_VERSIONS, listen } from './helpers.js';

const kit = useTestApiserver();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe.each(KOA_VERSIONS)('%s', (_name, Koa) => {
  async function serve(options: Parameters<typeof verifyApiserverToken>[0]) {
    const { stream, raw, lines } = captureLog();
    const app = new Koa();
    // koa-pino-logger logs request headers: the Authorization header must be redacted (README says so).
    app.use(
      koaPinoLogger({ logger: pino({ level: 'debug', redact: ['req.headers.authorization'] }, stream) }),
    );
    const guard = verifyApiserverToken(options);
    app.use(guard);
    app.use((ctx) => {
      ctx.body = { username: ctx.state.apiserver?.username ?? null };
    });
    const server = await listen(app);
    closers.push(server.close, guard.close);
    return { url: server.url, raw, lines };
  }
  const post = (url: string, tag: string, token?: string) =>
    fetch(`${url}/validate?tag=${tag}`, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  const lineFor = (lines: LogLine[], tag: string) => {
    const ours = lines.filter(
      (line) => line.msg.startsWith('apiserver-token:') && line.req?.url?.endsWith(`=${tag}`),
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]?.req?.id).toBeDefined();
    return ours[0] as LogLine;
  };

  it('logs through ctx.log: verified at debug, forged at info, with the request id and fingerprint, never the token', async () => {
    const { url, raw, lines } = await serve(kit.options);
    const token = await kit.mint();
    const forged = `${token.slice(0, -4)}AAAA`;
    expect((await post(url, 'genuine', token)).status).toBe(200);
    expect((await post(url, 'forged', forged)).status).toBe(401);
    const all = lines();
    const genuine = lineFor(all, 'genuine');
    expect(genuine).toMatchObject({
      level: 20,
      msg: 'apiserver-token: request verified',
      verifiedBy: 'jwks',
    });
    expect(genuine.fingerprint).toMatch(/^[\w-]{16}$/);
    const refused = lineFor(all, 'forged');
    expect(refused).toMatchObject({ level: 30, code: 'invalid_signature', status: 401 });
    expect(refused.fingerprint).toMatch(/^[\w-]{16}$/);
    const completed = all.find(
      (line) => line.msg === 'request completed' && line.req?.url?.endsWith('=forged'),
    );
    expect(completed?.req?.id).toEqual(refused.req?.id);
    const text = raw.join('\n');
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(forged.split('.')[2]);
    expect(JSON.stringify([genuine, refused])).not.toContain(token.split('.')[1]);
  });

  it('logs an unreachable issuer at warn, as the 503 it answers', async () => {
    const { jwks: _jwks, ...options } = kit.options;
    const { url, lines } = await serve({ ...options, jwks: { cooldown: 0 } });
    const onWarning = () => {};
    process.on('warning', onWarning);
    try {
      expect((await post(url, 'unavailable', await kit.mint())).status).toBe(503);
    } finally {
      process.off('warning', onWarning);
    }
    expect(lineFor(lines(), 'unavailable')).toMatchObject({
      level: 40,
      code: 'issuer_unavailable',
      status: 503,
    });
  });

  it('with a `logger` option, logs through it instead of ctx.log', async () => {
    const calls: Array<{ level: string; object: Record<string, unknown> }> = [];
    const at = (level: string) => (object: Record<string, unknown>) => calls.push({ level, object });
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const { url, lines } = await serve({ ...kit.options, logger });
    expect((await post(url, 'none')).status).toBe(401);
    expect(calls.filter((call) => call.object.code === 'missing_token')).toEqual([
      { level: 'info', object: expect.objectContaining({ code: 'missing_token', status: 401 }) },
    ]);
    expect(lines().filter((line) => line.msg.startsWith('apiserver-token:'))).toEqual([]);
  });
});
