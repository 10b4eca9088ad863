/**
 * Issue 8, item 7: in admission mode the guard may run before or after the app's body parser.
 * Before it, the guard reads the AdmissionReview from the stream itself and must hand it on so
 * that the parser leaves the spent stream alone (Express 4's body-parser looks at `req._body`,
 * Express 5's at whether the request finished, @koa/bodyparser at `ctx.request.body`). Both orders,
 * on Express 4 and 5 and Koa 2 and 3 with their usual parsers, and Fastify (which parses before
 * its preHandler), over real sockets with tokens from the testing kit.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { ApiserverIdentity, VerifyApiserverTokenOptions } from '@apiserver-token/core';
import { verifyApiserverToken as expressGuard } from '@apiserver-token/express';
import { fastifyApiserverToken } from '@apiserver-token/fastify';
import { verifyApiserverToken as koaGuard } from '@apiserver-token/koa';
import { verifyApiserverToken as connectGuard } from '@apiserver-token/node';
import { describe, expect, it } from 'vitest';
import { admissionReview, postJson } from './helpers/admission-review.js';
import { useTestApiserver } from './helpers/test-apiserver.js';

const requireFrom = (dir: string) =>
  createRequire(new URL(`../packages/${dir}/package.json`, import.meta.url));

type Handler = (...args: never[]) => unknown;
type Options = VerifyApiserverTokenOptions<never>;
interface Served {
  url: string;
  close(): Promise<void>;
}
/** What every app's handler answers: the uid of the review it was handed, and who called. */
interface Seen {
  uid?: string;
  username?: string;
}
const seen = (body: unknown, identity: ApiserverIdentity | undefined): Seen => ({
  uid: (body as { request?: { uid?: string } } | undefined)?.request?.uid,
  username: identity?.username,
});

async function listening(server: Server, stop: () => Promise<void>): Promise<Served> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
    },
  };
}

interface ExpressApp {
  post(path: string, ...handlers: Handler[]): void;
  listen(port: number, host: string, ready: () => void): Server;
}
type Express = (() => ExpressApp) & { json(): Handler };
type ExpressHandler = (
  req: { body?: unknown; apiserver?: ApiserverIdentity },
  res: { json(body: unknown): void },
) => void;

function express(module: string, guardFirst: boolean) {
  return async (options: Options): Promise<Served> => {
    const framework = requireFrom('express')(module) as Express;
    const guard = expressGuard(options as Parameters<typeof expressGuard>[0]);
    const app = framework();
    const handler: ExpressHandler = (req, res) => res.json(seen(req.body, req.apiserver));
    const chain = guardFirst ? [guard, framework.json()] : [framework.json(), guard];
    app.post('/validate', ...(chain as Handler[]), handler as Handler);
    return listening(
      app.listen(0, '127.0.0.1', () => {}),
      guard.close,
    );
  };
}

interface KoaApp {
  use(middleware: Handler): KoaApp;
  listen(port: number, host: string, ready: () => void): Server;
}
interface KoaContext {
  request: { body?: unknown };
  state: { apiserver?: ApiserverIdentity };
  body: unknown;
}
function koa(module: string, guardFirst: boolean) {
  return async (options: Options): Promise<Served> => {
    const Framework = requireFrom('koa')(module) as new () => KoaApp;
    const { bodyParser } = requireFrom('koa')('@koa/bodyparser') as { bodyParser: () => Handler };
    const guard = koaGuard(options as Parameters<typeof koaGuard>[0]);
    const app = new Framework();
    for (const middleware of guardFirst ? [guard, bodyParser()] : [bodyParser(), guard])
      app.use(middleware as Handler);
    app.use(((ctx: KoaContext) => {
      ctx.body = seen(ctx.request.body, ctx.state.apiserver);
    }) as Handler);
    return listening(
      app.listen(0, '127.0.0.1', () => {}),
      guard.close,
    );
  };
}

interface FastifyApp {
  register(plugin: unknown, options?: unknown): PromiseLike<unknown>;
  post(
    path: string,
    handler: (request: { body?: unknown; apiserver?: ApiserverIdentity }) => Promise<unknown>,
  ): void;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}
function fastify(module: string) {
  return async (options: Options): Promise<Served> => {
    const app = (requireFrom('fastify')(module) as () => FastifyApp)();
    await app.register(fastifyApiserverToken, options);
    app.post('/validate', async (request) => seen(request.body, request.apiserver));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  };
}

interface ConnectApp {
  use(path: string, handler: Handler): ConnectApp;
  (req: IncomingMessage, res: ServerResponse): void;
}
/** Connect with body-parser's `json()` (1.x, Express 4's), before or after the guard. */
function connect(guardFirst: boolean) {
  return async (options: Options): Promise<Served> => {
    const guard = connectGuard(options as VerifyApiserverTokenOptions<IncomingMessage>);
    const express4 = requireFrom('express').resolve('express4');
    const { json } = createRequire(express4)('body-parser') as { json(): Handler };
    const app = (requireFrom('node')('connect') as () => ConnectApp)();
    for (const middleware of guardFirst ? [guard, json()] : [json(), guard])
      app.use('/validate', middleware as Handler);
    app.use('/validate', ((req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(seen(req.body, req.apiserver)));
    }) as Handler);
    const server = createServer(app);
    server.listen(0, '127.0.0.1');
    return listening(server, guard.close);
  };
}

const APPS: Array<[string, (options: Options) => Promise<Served>]> = [
  ['Express 5, guard before express.json()', express('express', true)],
  ['Express 5, express.json() before the guard', express('express', false)],
  ['Express 4, guard before express.json()', express('express4', true)],
  ['Express 4, express.json() before the guard', express('express4', false)],
  ['Koa 3, guard before @koa/bodyparser', koa('koa', true)],
  ['Koa 3, @koa/bodyparser before the guard', koa('koa', false)],
  ['Koa 2, guard before @koa/bodyparser', koa('koa2', true)],
  ['Koa 2, @koa/bodyparser before the guard', koa('koa2', false)],
  ['Connect, guard before body-parser json()', connect(true)],
  ['Connect, body-parser json() before the guard', connect(false)],
  ['Fastify 5', fastify('fastify')],
  ['Fastify 4', fastify('fastify4')],
];

const kit = useTestApiserver();

describe.each(APPS)('admission mode: %s', (_name, serve) => {
  it('a genuine call reaches the handler with its AdmissionReview; rejected ones get their denials', async () => {
    const app = await serve({ ...kit.options, admission: true } as Options);
    try {
      const token = await kit.mint();
      const ok = await postJson(app.url, { authorization: `Bearer ${token}` }, admissionReview('uid-ok'));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({
        uid: 'uid-ok',
        username: 'system:serviceaccount:kube-system:webhook-auth',
      });

      // The same connection-less client again: the body is read per request, never stale.
      const again = await postJson(app.url, { authorization: `Bearer ${token}` }, admissionReview('uid-2'));
      expect(await again.json()).toMatchObject({ uid: 'uid-2' });

      const missing = await postJson(app.url, {}, admissionReview('uid-missing'));
      expect(missing.status).toBe(200);
      expect(await missing.json()).toMatchObject({
        kind: 'AdmissionReview',
        response: { uid: 'uid-missing', allowed: false, status: { code: 401 } },
      });

      const foreign = await kit.mint({ signWith: 'foreign' });
      const forged = await postJson(
        app.url,
        { authorization: `Bearer ${foreign}` },
        admissionReview('uid-forged'),
      );
      expect(forged.status).toBe(200);
      expect(await forged.json()).toMatchObject({ response: { uid: 'uid-forged', allowed: false } });
    } finally {
      await app.close();
    }
  });

  it("respond: 'http' — a rejected call gets a plain 401, a genuine one its review", async () => {
    const app = await serve({ ...kit.options, admission: { respond: 'http' } } as Options);
    try {
      expect((await postJson(app.url, {}, admissionReview('uid-plain'))).status).toBe(401);
      const token = await kit.mint();
      const ok = await postJson(app.url, { authorization: `Bearer ${token}` }, admissionReview('uid-ok'));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ uid: 'uid-ok' });
    } finally {
      await app.close();
    }
  });
});

describe.each(APPS)('observe mode (enforce: false), admission: %s', (_name, serve) => {
  it('a refused call goes on to the handler with its AdmissionReview, without an identity', async () => {
    const app = await serve({ ...kit.options, admission: true, enforce: false } as Options);
    try {
      const response = await postJson(app.url, {}, admissionReview('uid-observed'));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ uid: 'uid-observed' });
    } finally {
      await app.close();
    }
  });

  it('a body that is no JSON, once the guard has read it, is answered 400 as a parser would, not a 500 on the spent stream', async () => {
    const app = await serve({ ...kit.options, admission: true, enforce: false } as Options);
    try {
      const response = await fetch(`${app.url}/validate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"kind":"AdmissionReview",',
      });
      expect(response.status).toBe(400);
      await response.arrayBuffer();
    } finally {
      await app.close();
    }
  });
});
