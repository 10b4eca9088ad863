/**
 * The plugin logs each request's verdict through Fastify's own logger (`request.log`), so the
 * lines carry Fastify's `reqId`, unless a `logger` is given; and `app.apiserverToken` is what a
 * readiness handler waits on. Real Fastify loggers writing to a captured stream, real sockets.
 */
import type { Writable } from 'node:stream';
import { createVerifier } from '@apiserver-token/core';
import { fastifyApiserverToken } from '@apiserver-token/fastify';
import { startTestApiserver } from '@apiserver-token/testing';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { WEBHOOK_AUDIENCE as AUDIENCE } from '../../../test/helpers/admission-review.js';
import { captureLog, type LogLine } from '../../../test/helpers/log-capture.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { FASTIFY_VERSIONS } from './helpers.js';

const kit = useTestApiserver();

/** A pino destination keeping every line, parsed. */

/** pino's numeric levels. */
const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe.each(FASTIFY_VERSIONS)('%s', (_name, fastify) => {
  async function serve(options: Parameters<typeof fastifyApiserverToken>[1], stream: Writable) {
    const app = fastify({ logger: { level: 'debug', stream } });
    apps.push(app);
    await app.register(fastifyApiserverToken, options);
    app.post('/validate', async (request) => ({ username: request.apiserver?.username ?? null }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    return { app, url: `http://127.0.0.1:${port}` };
  }
  const post = (url: string, tag: string, token?: string) =>
    fetch(`${url}/validate?tag=${tag}`, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  /** The plugin's line for the request sent with `tag`, joined to Fastify's own line by reqId. */
  function lineFor(lines: LogLine[], tag: string): LogLine {
    const incoming = lines.find(
      (line) => line.msg === 'incoming request' && line.req?.url?.endsWith(`=${tag}`),
    );
    expect(incoming?.reqId).toBeDefined();
    const ours = lines.filter(
      (line) => line.reqId === incoming?.reqId && line.msg.startsWith('apiserver-token:'),
    );
    expect(ours).toHaveLength(1);
    return ours[0] as LogLine;
  }

  it('logs each verdict through request.log: verified at debug, forged at info, with reqId and fingerprint, never the token', async () => {
    const { stream, raw, lines } = captureLog();
    const { url } = await serve(kit.options, stream);
    const token = await kit.mint();
    const forged = `${token.slice(0, -4)}AAAA`;
    expect((await post(url, 'genuine', token)).status).toBe(200);
    expect((await post(url, 'forged', forged)).status).toBe(401);
    expect((await post(url, 'none')).status).toBe(401);

    const all = lines();
    const genuine = lineFor(all, 'genuine');
    expect(genuine).toMatchObject({
      level: LEVEL.debug,
      msg: 'apiserver-token: request verified',
      verifiedBy: 'jwks',
      username: 'system:serviceaccount:kube-system:webhook-auth',
    });
    expect(genuine.fingerprint).toMatch(/^[\w-]{16}$/);

    const refused = lineFor(all, 'forged');
    expect(refused).toMatchObject({
      level: LEVEL.info,
      msg: 'apiserver-token: request rejected',
      code: 'invalid_signature',
      status: 401,
    });
    expect(refused.fingerprint).toMatch(/^[\w-]{16}$/);
    expect(refused.fingerprint).not.toBe(genuine.fingerprint);
    expect(refused.reason).toEqual(expect.any(String));

    expect(lineFor(all, 'none')).toMatchObject({ level: LEVEL.info, code: 'missing_token' });
    expect(lineFor(all, 'none').fingerprint).toBeUndefined();

    const text = raw.join('\n');
    expect(text).not.toContain(token);
    expect(text).not.toContain(forged);
    expect(text).not.toContain(token.split('.')[2]);
  });

  it('logs keys it cannot fetch at warn, per request, as the 503 it answers', async () => {
    const { stream, lines } = captureLog();
    // No CA: the kit's certificate is untrusted, so the keys cannot be fetched.
    const { jwks: _jwks, ...options } = kit.options;
    const { url } = await serve({ ...options, jwks: { cooldown: 0 } }, stream);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      expect((await post(url, 'unavailable', await kit.mint())).status).toBe(503);
    } finally {
      process.off('warning', onWarning);
    }
    expect(lineFor(lines(), 'unavailable')).toMatchObject({
      level: LEVEL.warn,
      msg: 'apiserver-token: cannot verify the token',
      code: 'issuer_unavailable',
      status: 503,
    });
  });

  it('with a `logger`, logs through it and not through request.log (never twice)', async () => {
    const { stream, lines } = captureLog();
    const calls: Array<{ level: string; object: Record<string, unknown> }> = [];
    const at = (level: string) => (object: Record<string, unknown>) => calls.push({ level, object });
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const { url } = await serve({ ...kit.options, logger }, stream);
    const token = await kit.mint();
    expect((await post(url, 'forged', `${token.slice(0, -4)}AAAA`)).status).toBe(401);
    const rejections = calls.filter((call) => call.object.code === 'invalid_signature');
    expect(rejections).toHaveLength(1);
    expect(rejections[0]?.level).toBe('info');
    expect(lines().filter((line) => line.msg.startsWith('apiserver-token:'))).toEqual([]);
  });

  it('a shared verifier: one made with a logger logs itself only; one without leaves it to request.log', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const at = () => (object: Record<string, unknown>) => calls.push(object);
    const logger = { debug: at(), info: at(), warn: at(), error: at() };
    const withLogger = createVerifier({ ...kit.options, logger });
    const without = createVerifier(kit.options);
    try {
      const first = captureLog();
      const { url: loggedUrl } = await serve({ verifier: withLogger }, first.stream);
      expect((await post(loggedUrl, 'none')).status).toBe(401);
      expect(calls.filter((call) => call.code === 'missing_token')).toHaveLength(1);
      expect(first.lines().filter((line) => line.msg.startsWith('apiserver-token:'))).toEqual([]);

      const second = captureLog();
      const { url } = await serve({ verifier: without }, second.stream);
      expect((await post(url, 'none')).status).toBe(401);
      expect(lineFor(second.lines(), 'none')).toMatchObject({ level: LEVEL.info, code: 'missing_token' });
    } finally {
      await withLogger.close();
      await without.close();
    }
  });

  it('logs an observed request at warn, with enforcing: false, and lets it through without an identity', async () => {
    const { stream, lines } = captureLog();
    const { url } = await serve({ ...kit.options, enforce: false }, stream);
    const response = await post(url, 'observed');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ username: null });
    expect(lineFor(lines(), 'observed')).toMatchObject({
      level: LEVEL.warn,
      code: 'missing_token',
      enforcing: false,
    });
  });

  describe("operator diagnostics without a `logger`: Fastify's log, else process warnings", () => {
    /** Warnings Node emits meanwhile (emitted on the next tick, so collected until `settle`). */
    function collectWarnings() {
      const warnings: Array<Error & { code?: string }> = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on('warning', onWarning);
      return {
        warnings,
        async settle() {
          await new Promise((resolve) => setImmediate(resolve));
          process.off('warning', onWarning);
          return warnings.filter((warning) => warning.code?.startsWith('APISERVER_TOKEN_'));
        },
      };
    }
    // No CA: the kit's certificate is untrusted, so the keys cannot be fetched.
    const forgottenCa = () => {
      const { jwks: _jwks, ...options } = kit.options;
      return { ...options, jwks: { cooldown: 0 } };
    };

    it("a forgotten CA: one line in Fastify's log with the code and the fix, no process warning, never a token", async () => {
      const { stream, raw, lines } = captureLog();
      const collected = collectWarnings();
      const { url } = await serve(forgottenCa(), stream);
      const token = await kit.mint();
      for (const tag of ['first', 'second', 'third']) expect((await post(url, tag, token)).status).toBe(503);
      expect(await collected.settle()).toEqual([]);

      const diagnostics = lines().filter((line) => line.code === 'APISERVER_TOKEN_KEYS_UNAVAILABLE');
      expect(diagnostics).toHaveLength(1);
      const [line] = diagnostics;
      // Keys unreachable is an outage in waiting: `error`, as the levels say (warn/error).
      expect(line).toMatchObject({ level: LEVEL.error, cause: 'untrusted-certificate' });
      expect(line?.reqId).toBeUndefined();
      expect(line?.msg).toMatch(/^apiserver-token: /);
      expect(line?.fix).toContain('jwks.ca');
      expect(line?.fix).toContain('APISERVER_TOKEN_CA_FILE');
      const text = raw.join('\n');
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.split('.')[2]);
    });

    it.each([
      ['logger: false', { logger: false }],
      ["level: 'silent'", { logger: { level: 'silent' } }],
    ] as const)(
      "Fastify's logger disabled (%s): the diagnostic stays a process warning",
      async (_label, logging) => {
        const collected = collectWarnings();
        const app = fastify(logging);
        apps.push(app);
        await app.register(fastifyApiserverToken, forgottenCa());
        app.post('/validate', async () => ({}));
        await app.listen({ port: 0, host: '127.0.0.1' });
        const { port } = app.server.address() as { port: number };
        const token = await kit.mint();
        expect((await post(`http://127.0.0.1:${port}`, 'off', token)).status).toBe(503);
        const warnings = await collected.settle();
        expect(warnings.map((warning) => warning.code)).toEqual(['APISERVER_TOKEN_KEYS_UNAVAILABLE']);
        expect(warnings[0]?.message).not.toContain(token);
      },
    );

    it("with a `logger`, diagnostics go to it and not to Fastify's log", async () => {
      const { stream, lines } = captureLog();
      const collected = collectWarnings();
      const calls: Array<{ level: string; object: Record<string, unknown> }> = [];
      const at = (level: string) => (object: Record<string, unknown>) => calls.push({ level, object });
      const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
      const { url } = await serve({ ...forgottenCa(), logger }, stream);
      expect((await post(url, 'logged', await kit.mint())).status).toBe(503);
      expect(await collected.settle()).toEqual([]);
      const reported = calls.filter((call) => call.object.code === 'APISERVER_TOKEN_KEYS_UNAVAILABLE');
      expect(reported).toHaveLength(1);
      expect(reported[0]?.level).toBe('error');
      expect(lines().filter((line) => line.code === 'APISERVER_TOKEN_KEYS_UNAVAILABLE')).toEqual([]);
    });
  });

  describe('readiness: app.apiserverToken', () => {
    it('ready() resolves once the keys are loaded; health() feeds a /readyz route outside the guarded scope', async () => {
      const { stream } = captureLog();
      const app = fastify({ logger: { level: 'silent', stream } });
      apps.push(app);
      // The plugin guards the scope it is registered in: probes carry no token, so /readyz lives
      // outside it, and reads the controls the plugin decorated that scope with.
      let guard: FastifyInstance['apiserverToken'] | undefined;
      await app.register(async (webhooks) => {
        await webhooks.register(fastifyApiserverToken, kit.options);
        webhooks.post('/validate', async (request) => ({ username: request.apiserver?.username }));
        guard = webhooks.apiserverToken;
      });
      app.get('/readyz', async (_request, reply) => {
        const health = guard?.verifier.health();
        return reply.code(health?.ready ? 200 : 503).send(health);
      });
      await app.ready();
      expect(app.hasDecorator('apiserverToken')).toBe(false);
      const before = await app.inject({ method: 'GET', url: '/readyz' });
      await guard?.ready();
      const after = await app.inject({ method: 'GET', url: '/readyz' });
      expect(after.statusCode).toBe(200);
      expect(after.json()).toMatchObject({ mode: 'jwks', enforcing: true, ready: true });
      expect(after.json().keySets[0].keys).toBeGreaterThan(0);
      // Never ready without keys: before they arrived the route said 503, or they were already there.
      if (before.statusCode === 200) expect(before.json().keySets[0].keys).toBeGreaterThan(0);
      else expect(before.json()).toMatchObject({ ready: false });
      const guarded = await app.inject({ method: 'POST', url: '/validate' });
      expect(guarded.statusCode).toBe(401);
    });

    it('registered on the app, app.apiserverToken is on the root instance', async () => {
      const { stream } = captureLog();
      const app = fastify({ logger: { level: 'silent', stream } });
      apps.push(app);
      await app.register(fastifyApiserverToken, kit.options);
      await app.ready();
      await app.apiserverToken.ready();
      expect(app.apiserverToken.verifier.health()).toMatchObject({ ready: true });
    });

    it('ready() rejects when the apiserver forbids TokenReviews, naming system:auth-delegator', async () => {
      const api = await startTestApiserver();
      try {
        const user = await api.addUser({ name: 'no-review', canReview: false });
        const { stream } = captureLog();
        const app = fastify({ logger: { level: 'silent', stream } });
        apps.push(app);
        await app.register(fastifyApiserverToken, {
          audience: AUDIENCE,
          mode: 'tokenreview',
          kubeconfig: user.kubeconfigPath,
          inCluster: false,
          env: {},
        });
        await app.ready();
        await expect(app.apiserverToken.ready()).rejects.toThrow(/system:auth-delegator/);
        expect(app.apiserverToken.verifier.health()).toMatchObject({ mode: 'tokenreview', ready: false });
        await app.close();
      } finally {
        await api.close();
      }
    });

    it('the first registration decorates; a verifier created by the plugin closes with the app', async () => {
      const { stream } = captureLog();
      const app = fastify({ logger: { level: 'silent', stream } });
      await app.register(fastifyApiserverToken, kit.options);
      await app.ready();
      const { verifier } = app.apiserverToken;
      await app.apiserverToken.ready();
      const token = await kit.mint();
      await expect(verifier.verify({ headers: { authorization: `Bearer ${token}` } })).resolves.toMatchObject(
        {
          verifiedBy: 'jwks',
        },
      );
      await app.close();
      await expect(verifier.verify({ headers: { authorization: `Bearer ${token}` } })).rejects.toMatchObject({
        status: 503,
      });
    });
  });
});
