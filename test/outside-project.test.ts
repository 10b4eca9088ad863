/**
 * The packages as a user installs them: each packed with `pnpm pack` (which turns `workspace:^`
 * into a version range), the tarballs installed into a new project outside the workspace — once
 * with npm, once with pnpm (strict layout: the project depends on the adapters and the testing
 * kit, never on `@apiserver-token/core`) — and frameworks from the npm registry. Through each
 * adapter, in ESM and in CommonJS, a program of that project starts the testing kit (from its
 * tarball), serves a guarded route and sends it a genuine and a forged token.
 * Needs the built `dist/` (the root `test` script builds first) and the npm registry.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

const PACKED = ['core', 'express', 'koa', 'fastify', 'node', 'hono', 'nestjs', 'testing'] as const;
/** What the project installs from the registry, beside the tarballs (versions the workspace tests). */
const FRAMEWORKS = {
  express: '^5.1.0',
  koa: '^3.0.0',
  fastify: '^5.4.0',
  hono: '^4.13.0',
  '@hono/node-server': '^2.1.0',
  '@nestjs/common': '^11.1.0',
  '@nestjs/core': '^11.1.0',
  '@nestjs/platform-express': '^11.1.0',
  'reflect-metadata': '^0.2.2',
  rxjs: '^7.8.2',
  // For the strict type check of a user's TypeScript against the installed declarations.
  typescript: '~5.9.3',
  '@types/node': '^20.19.0',
  '@types/express': '^5.0.3',
  '@types/koa': '^3.0.0',
};

/**
 * A user's TypeScript against every adapter's documented API, compiled under `strict` as ESM
 * (`.mts`, the `import` declarations) and as CommonJS (`.cts`, the `require` ones). `NotAny`
 * fails when a type silently became `any` (a declaration that did not resolve).
 */
const TYPES_SOURCE = `import { createServer } from 'node:http';
import express from 'express';
import Koa from 'koa';
import Fastify from 'fastify';
import { Hono } from 'hono';
import * as forExpress from '@apiserver-token/express';
import * as forKoa from '@apiserver-token/koa';
import fastifyApiserverToken, {
  type ApiserverIdentity,
  createVerifier,
  ForbiddenIdentityError,
  isApiserverTokenError,
} from '@apiserver-token/fastify';
import * as forNode from '@apiserver-token/node';
import * as forHono from '@apiserver-token/hono';
import { ApiserverTokenGuard, ApiserverTokenModule } from '@apiserver-token/nestjs';
import { startTestApiserver } from '@apiserver-token/testing';

type NotAny<T> = 0 extends 1 & T ? false : true;
function yes<T>(value: NotAny<T>, _of?: T): NotAny<T> {
  return value;
}

export async function main(): Promise<void> {
  const app = express();
  app.post(
    '/validate',
    forExpress.verifyApiserverToken({
      audience: 'https://a.example/validate',
      onVerified: (identity) => {
        if (identity.serviceAccount?.namespace !== 'kube-system') throw new forExpress.ForbiddenIdentityError('no');
      },
      onRejected: (error) => console.log(error.message),
    }),
    (req, res) => {
      yes(true, req.apiserver);
      res.json({ caller: req.apiserver?.username });
    },
  );
  const koa = new Koa();
  koa.use(forKoa.verifyApiserverToken({ audience: 'https://a.example/audit' }));
  koa.use((ctx) => {
    yes(true, ctx.state.apiserver);
    ctx.body = { caller: ctx.state.apiserver?.username };
  });
  const fastify = Fastify();
  await fastify.register(fastifyApiserverToken, { audience: 'https://a.example/convert' });
  fastify.post('/convert', async (request) => ({ caller: yes(true, request.apiserver) && request.apiserver?.username }));
  const guard = forNode.createApiserverTokenGuard({ audience: 'https://a.example/validate' });
  createServer(async (req, res) => {
    const identity = await guard(req, res);
    if (identity) res.end(identity.username);
  });
  const hono = new Hono();
  hono.post('/validate', forHono.verifyApiserverToken({ audience: 'https://a.example/validate' }), (c) =>
    c.json({ caller: yes(true, c.var.apiserver) && c.var.apiserver.username }),
  );
  ApiserverTokenModule.forRoot({ audience: 'https://a.example/validate' });
  yes(true, ApiserverTokenGuard);
  const verifier = createVerifier({ audience: 'https://a.example/validate' });
  const identity: ApiserverIdentity = await verifier.verify({ headers: {} });
  yes(true, identity.groups);
  const error: unknown = new ForbiddenIdentityError('no');
  if (isApiserverTokenError(error)) console.log(error.code, error.status);
  const api = await startTestApiserver();
  yes(true, await api.mintToken({ audiences: ['https://a.example/validate'] }));
  await api.close();
}
`;

const CALLER = 'system:serviceaccount:kube-system:webhook-auth';

/**
 * Per adapter: code that serves `POST /validate` behind the adapter with `options`, answering
 * `{ caller }`, and evaluates to `{ url, close }`. `load(name)` is `import()` in ESM, `require` in
 * CommonJS; `def(module)` is the module's default export, however it is exposed.
 */
const SERVERS: Record<string, string> = {
  express: `
    const express = def(await load('express'));
    const { verifyApiserverToken } = await load('@apiserver-token/express');
    const guard = verifyApiserverToken(options);
    const app = express();
    app.post('/validate', guard, express.json(), (req, res) => res.json({ caller: req.apiserver.username }));
    return listen(http.createServer(app), () => guard.close());`,
  koa: `
    const Koa = def(await load('koa'));
    const { verifyApiserverToken } = await load('@apiserver-token/koa');
    const guard = verifyApiserverToken(options);
    const app = new Koa();
    app.use(guard);
    app.use((ctx) => { ctx.body = { caller: ctx.state.apiserver.username }; });
    return listen(http.createServer(app.callback()), () => guard.close());`,
  fastify: `
    const Fastify = def(await load('fastify'));
    const { fastifyApiserverToken } = await load('@apiserver-token/fastify');
    const app = Fastify();
    await app.register(fastifyApiserverToken, options);
    app.post('/validate', async (request) => ({ caller: request.apiserver.username }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: 'http://127.0.0.1:' + app.server.address().port + '/validate', close: () => app.close() };`,
  node: `
    const { createApiserverTokenGuard } = await load('@apiserver-token/node');
    const guard = createApiserverTokenGuard(options);
    const server = http.createServer(async (req, res) => {
      const identity = await guard(req, res);
      if (identity === undefined) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ caller: identity.username }));
    });
    return listen(server, () => guard.close());`,
  hono: `
    const { Hono } = await load('hono');
    const { serve } = await load('@hono/node-server');
    const { verifyApiserverToken } = await load('@apiserver-token/hono');
    const guard = verifyApiserverToken(options);
    const app = new Hono();
    app.post('/validate', guard, (c) => c.json({ caller: c.var.apiserver.username }));
    let server;
    const info = await new Promise((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, resolve);
    });
    return {
      url: 'http://127.0.0.1:' + info.port + '/validate',
      close: async () => { await new Promise((resolve) => server.close(resolve)); await guard.close(); },
    };`,
  nestjs: `
    await load('reflect-metadata');
    const { Controller, HttpCode, Module, Post, UseGuards } = await load('@nestjs/common');
    const { NestFactory } = await load('@nestjs/core');
    const { Apiserver, ApiserverTokenGuard, ApiserverTokenModule } = await load('@apiserver-token/nestjs');
    // Decorators applied by hand: plain JavaScript has no parameter decorators.
    class WebhookController {
      validate(caller) { return { caller: caller.username }; }
    }
    const method = Object.getOwnPropertyDescriptor(WebhookController.prototype, 'validate');
    for (const decorate of [Post('validate'), HttpCode(200), UseGuards(ApiserverTokenGuard)]) {
      decorate(WebhookController.prototype, 'validate', method);
    }
    Apiserver()(WebhookController.prototype, 'validate', 0);
    Controller()(WebhookController);
    class AppModule {}
    Module({ imports: [ApiserverTokenModule.forRoot(options)], controllers: [WebhookController] })(AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    return { url: 'http://127.0.0.1:' + app.getHttpServer().address().port + '/validate', close: () => app.close() };`,
};

/** One program: the kit, the adapter's server, a genuine and a forged call; prints the answers. */
function program(adapter: string, kind: 'esm' | 'cjs'): string {
  const load =
    kind === 'esm' ? 'const load = (name) => import(name);' : 'const load = async (name) => require(name);';
  const body = `${load}
const def = (module) => (module && module.default !== undefined ? module.default : module);
async function main() {
  const http = await load('node:http');
  const listen = (server, closeGuard) =>
    new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
      url: 'http://127.0.0.1:' + server.address().port + '/validate',
      close: async () => { await new Promise((done) => server.close(done)); await closeGuard(); },
    })));
  const { startTestApiserver } = await load('@apiserver-token/testing');
  const api = await startTestApiserver();
  const audience = 'https://my-webhook.my-ns.svc:443/validate';
  const options = { audience, issuer: api.issuer, jwks: { ca: api.ca }, inCluster: false, env: {} };
  const served = await (async () => {${SERVERS[adapter]}
  })();
  const call = async (token) => {
    const res = await fetch(served.url, {
      method: 'POST',
      headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1' } }),
    });
    return { status: res.status, body: await res.json() };
  };
  const genuine = await call(await api.mintToken({ namespace: 'kube-system', serviceAccount: 'webhook-auth', audiences: [audience] }));
  const forged = await call(await api.mintToken({ namespace: 'kube-system', serviceAccount: 'webhook-auth', audiences: [audience], signWith: 'foreign' }));
  await served.close();
  await api.close();
  process.stdout.write(JSON.stringify({ genuine, forged }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;
  return body;
}

const pnpm = ['-y', 'pnpm@10'];
const scratch = mkdtempSync(join(tmpdir(), 'apiserver-token-outside-'));
const tarballs = join(scratch, 'tarballs');

/** The project's manifest: tarballs by path, core only as an override (never a direct dependency). */
function manifest(manager: 'npm' | 'pnpm'): string {
  const tarball = (dir: string) => {
    const file = readdirSync(tarballs).find((name) => name.startsWith(`apiserver-token-${dir}-`));
    if (file === undefined) throw new Error(`no tarball for ${dir}`);
    return `file:../tarballs/${file}`;
  };
  const dependencies: Record<string, string> = { ...FRAMEWORKS };
  for (const dir of PACKED) if (dir !== 'core') dependencies[`@apiserver-token/${dir}`] = tarball(dir);
  const overrides = { '@apiserver-token/core': tarball('core') };
  return JSON.stringify(
    {
      name: `outside-project-${manager}`,
      version: '1.0.0',
      private: true,
      dependencies,
      ...(manager === 'npm' ? { overrides } : { pnpm: { overrides } }),
    },
    null,
    2,
  );
}

beforeAll(async () => {
  mkdirSync(tarballs, { recursive: true });
  for (const dir of PACKED) {
    await run('npx', [...pnpm, 'pack', '--pack-destination', tarballs], {
      cwd: join(root, 'packages', dir),
      timeout: 120_000,
    });
  }
}, 600_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(['npm', 'pnpm'] as const)(
  'the packed tarballs installed with %s outside the workspace',
  (manager) => {
    const project = join(scratch, manager);

    beforeAll(async () => {
      mkdirSync(project, { recursive: true });
      writeFileSync(join(project, 'package.json'), manifest(manager));
      const quiet = { cwd: project, timeout: 600_000, maxBuffer: 32 * 1024 * 1024 };
      if (manager === 'npm') {
        await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], quiet);
      } else {
        await run('npx', [...pnpm, 'install', '--reporter=silent'], quiet);
      }
      for (const adapter of Object.keys(SERVERS)) {
        writeFileSync(join(project, `${adapter}.mjs`), program(adapter, 'esm'));
        writeFileSync(join(project, `${adapter}.cjs`), program(adapter, 'cjs'));
      }
    }, 900_000);

    it('type-checks a strict TypeScript user of every adapter, as ESM and as CommonJS', async () => {
      writeFileSync(join(project, 'user.mts'), TYPES_SOURCE);
      writeFileSync(join(project, 'user.cts'), TYPES_SOURCE);
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            target: 'ES2022',
            strict: true,
            noEmit: true,
            esModuleInterop: true,
            skipLibCheck: true,
            types: ['node'],
          },
          files: ['user.mts', 'user.cts'],
        }),
      );
      const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
      const output = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], {
        cwd: project,
        timeout: 170_000,
      }).then(
        () => '',
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
      expect(output).toBe('');
    }, 180_000);

    it('holds the packed version of every package, and core only below the adapters', () => {
      const installed = JSON.parse(
        readFileSync(join(project, 'node_modules', '@apiserver-token', 'express', 'package.json'), 'utf8'),
      ) as { dependencies: Record<string, string> };
      // pnpm pack turned the workspace protocol into a range a registry install understands.
      expect(installed.dependencies['@apiserver-token/core']).toMatch(/^\^\d+\.\d+\.\d+/);
      const direct = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      };
      expect(direct.dependencies['@apiserver-token/core']).toBeUndefined();
      // The core the adapter loads is this build's, from its tarball, not something of the registry.
      const adapter = realpathSync(join(project, 'node_modules', '@apiserver-token', 'express'));
      const core = createRequire(join(adapter, 'package.json')).resolve('@apiserver-token/core/package.json');
      expect(readFileSync(join(dirname(core), 'dist', 'index.js'), 'utf8')).toBe(
        readFileSync(join(root, 'packages', 'core', 'dist', 'index.js'), 'utf8'),
      );
      // pnpm's strict layout: what the project does not depend on, it cannot import.
      if (manager === 'pnpm') {
        expect(existsSync(join(project, 'node_modules', '@apiserver-token', 'core'))).toBe(false);
      }
    });

    describe.each(Object.keys(SERVERS))('%s', (adapter) => {
      it.each(['esm', 'cjs'] as const)(
        '%s: a genuine token is let through, a forged one refused',
        async (kind) => {
          const file = `${adapter}.${kind === 'esm' ? 'mjs' : 'cjs'}`;
          const { stdout } = await run(process.execPath, [file], { cwd: project, timeout: 120_000 });
          const { genuine, forged } = JSON.parse(stdout) as Record<
            'genuine' | 'forged',
            { status: number; body: Record<string, unknown> }
          >;
          expect(genuine).toEqual({ status: 200, body: { caller: CALLER } });
          expect(forged.status).toBe(401);
          expect(forged.body['caller']).toBeUndefined();
          expect(forged.body['error']).toEqual(expect.any(String));
        },
        180_000,
      );
    });
  },
);
