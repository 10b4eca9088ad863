/**
 * With nestjs-pino (pino-http under Nest), the guard logs each request's verdict through that
 * request's pino logger, so the line carries pino-http's request binding (`req.id`): on the
 * Express platform pino-http sets `req.log`, on Fastify it sets it on the raw request (Nest's
 * middleware sees that one). Real nestjs-pino writing to a captured stream, real sockets.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiserverIdentity } from '@apiserver-token/core';
import { LoggerModule } from 'nestjs-pino';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog, type LogLine } from '../../../test/helpers/log-capture.js';
import { loadNest } from '../../../test/helpers/nest.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';

const kit = useTestApiserver();

// One stream for the file: nestjs-pino keeps its root pino logger across apps in one process.
const captured = captureLog();
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

// nestjs-pino 5 supports NestJS 11 (the adapter's dev dependency).
describe.each(['express', 'fastify'] as const)('NestJS 11 with nestjs-pino (%s)', (platform) => {
  async function serve(withPino: boolean) {
    const { stream, raw, lines } = captured;
    const nest = await loadNest(11);
    const { Controller, HttpCode, Module, Post, UseGuards } = nest.common;
    const { Apiserver, ApiserverTokenGuard, ApiserverTokenModule } = nest.adapter;

    @Controller()
    class WebhookController {
      @Post('validate')
      @HttpCode(200)
      @UseGuards(ApiserverTokenGuard)
      validate(@Apiserver() identity: ApiserverIdentity) {
        return { username: identity.username };
      }
    }
    // pino-http logs request headers: the Authorization header must be redacted (README says so).
    const pinoModule = LoggerModule.forRoot({
      pinoHttp: { level: 'debug', redact: ['req.headers.authorization'], stream },
    });
    @Module({
      imports: [...(withPino ? [pinoModule] : []), ApiserverTokenModule.forRoot(kit.options)],
      controllers: [WebhookController],
    })
    class AppModule {}

    const app = await nest.core.NestFactory.create(AppModule, nest.platform[platform]() as never, {
      logger: false,
      abortOnError: false,
    });
    closers.push(() => app.close());
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, raw, lines };
  }
  const post = (url: string, tag: string, token?: string) =>
    fetch(`${url}/validate?tag=${platform}-${tag}`, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  /** Our line for the request sent with `tag`: the one bound to that request by pino-http. */
  const lineFor = (lines: LogLine[], tag: string) => {
    const ours = lines.filter(
      (line) => line.msg.startsWith('apiserver-token:') && line.req?.url?.endsWith(`=${platform}-${tag}`),
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]?.req?.id).toBeDefined();
    return ours[0] as LogLine;
  };

  it('logs through the request logger: verified at debug, forged at info, with the request id and fingerprint, never the token', async () => {
    const { url, raw, lines } = await serve(true);
    const token = await kit.mint();
    const forged = `${token.slice(0, -4)}AAAA`;
    expect((await post(url, 'genuine', token)).status).toBe(200);
    expect((await post(url, 'forged', forged)).status).toBe(401);
    expect((await post(url, 'none')).status).toBe(401);
    const all = lines();
    expect(lineFor(all, 'genuine')).toMatchObject({
      level: 20,
      msg: 'apiserver-token: request verified',
      verifiedBy: 'jwks',
    });
    const refused = lineFor(all, 'forged');
    expect(refused).toMatchObject({ level: 30, code: 'invalid_signature', status: 401 });
    expect(refused.fingerprint).toMatch(/^[\w-]{16}$/);
    expect(lineFor(all, 'none')).toMatchObject({ level: 30, code: 'missing_token' });
    // pino-http's own completion line for the same request shares its id.
    const completed = all.find(
      (line) => line.msg === 'request completed' && line.req?.url?.endsWith(`=${platform}-forged`),
    );
    expect(completed?.req?.id).toEqual(refused.req?.id);
    const text = raw.join('\n');
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(forged.split('.')[2]);
  });

  it('without nestjs-pino nor a logger, per-request verdicts stay quiet', async () => {
    const { url, lines } = await serve(false);
    expect((await post(url, 'quiet')).status).toBe(401);
    expect(lines().filter((line) => line.req?.url?.endsWith(`=${platform}-quiet`))).toEqual([]);
    expect(lines().filter((line) => line.msg.startsWith('apiserver-token:') && !line.req)).toEqual([]);
  });
});
