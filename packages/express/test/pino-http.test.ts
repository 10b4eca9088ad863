/**
 * With pino-http in front, the middleware logs each request's verdict through `req.log`, so the
 * line carries pino-http's request binding (`req.id`); a `logger` option takes over from it.
 * Real pino writing to a captured stream, real sockets, both Express majors.
 */
import { verifyApiserverToken } from '@apiserver-token/express';
import type { Request } from 'express';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog, type LogLine } from '../../../test/helpers/log-capture.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { EXPRESS_VERSIONS, listen } from './helpers.js';

const kit = useTestApiserver();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe.each(EXPRESS_VERSIONS)('%s', (_name, express) => {
  async function serve(options: Parameters<typeof verifyApiserverToken>[0], withPinoHttp: boolean) {
    const { stream, raw, lines } = captureLog();
    const app = express();
    // pino-http logs request headers: the Authorization header must be redacted (README says so).
    const logger = pino({ level: 'debug', redact: ['req.headers.authorization'] }, stream);
    if (withPinoHttp) app.use(pinoHttp({ logger }));
    const guard = verifyApiserverToken(options);
    app.post('/validate', guard, (req: Request, res) => {
      res.json({ username: req.apiserver?.username ?? null });
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
  /** Our line for the request sent with `tag`: the one bound to that request by pino-http. */
  const lineFor = (lines: LogLine[], tag: string) => {
    const ours = lines.filter(
      (line) => line.msg.startsWith('apiserver-token:') && line.req?.url?.endsWith(`=${tag}`),
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]?.req?.id).toBeDefined();
    return ours[0] as LogLine;
  };

  it('logs through req.log: verified at debug, forged at info, with the request id and fingerprint, never the token', async () => {
    const { url, raw, lines } = await serve(kit.options, true);
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
    const refused = lineFor(all, 'forged');
    expect(refused).toMatchObject({ level: 30, code: 'invalid_signature', status: 401 });
    expect(refused.fingerprint).toMatch(/^[\w-]{16}$/);
    expect(refused.req?.id).not.toEqual(genuine.req?.id);
    // pino-http's own completion line for the same request shares its id.
    const completed = all.find(
      (line) => line.msg === 'request completed' && line.req?.url?.endsWith('=forged'),
    );
    expect(completed?.req?.id).toEqual(refused.req?.id);
    const text = raw.join('\n');
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(forged.split('.')[2]);
    expect(JSON.stringify([genuine, refused])).not.toContain(token.split('.')[1]);
  });

  it('with a `logger` option, logs through it instead of req.log', async () => {
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

  it('without pino-http nor a logger, per-request verdicts stay quiet', async () => {
    const { url, raw } = await serve(kit.options, false);
    expect((await post(url, 'none')).status).toBe(401);
    expect(raw).toEqual([]);
  });
});
