/**
 * The built declarations of the Koa, Fastify, node and Hono adapters, as a user's TypeScript sees them:
 * the `ctx.state.apiserver`, `request.apiserver` `IncomingMessage.apiserver` augmentations and Hono's `c.var.apiserver`
 * survive the d.ts bundling, for ESM and CJS consumers. Runs on `dist/`, which the root `test` script builds before vitest starts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const EXACT = 'type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;';

const SOURCES = {
  koa: `import type { ApiserverIdentity } from '@apiserver-token/core';
import { type ApiserverState, type ApiserverTokenMiddleware, verifyApiserverToken } from '@apiserver-token/koa';
import Koa from 'koa';
${EXACT}
const guard: ApiserverTokenMiddleware = verifyApiserverToken({ audience: 'https://a.example/audit' });
const app = new Koa();
app.use(guard);
const viaDefaultState: Exact<Koa.DefaultState['apiserver'], ApiserverIdentity | undefined> = true;
interface MyState { requestId: string }
const typed = new Koa<MyState & ApiserverState>();
typed.use((ctx) => {
  const viaState: Exact<typeof ctx.state.apiserver, ApiserverIdentity | undefined> = true;
  return viaState;
});
// @ts-expect-error: errors is 'respond' | 'throw'
verifyApiserverToken({ errors: 'next' });
export { viaDefaultState };
`,
  fastify: `import type { ApiserverIdentity } from '@apiserver-token/core';
import fastifyApiserverToken, { fastifyApiserverToken as named } from '@apiserver-token/fastify';
import Fastify, { type FastifyRequest } from 'fastify';
${EXACT}
const app = Fastify();
app.register(fastifyApiserverToken, { audience: 'https://a.example/convert' });
app.register(named, { hook: 'preHandler', respond: 'admission-review' });
const sameExport: Exact<typeof fastifyApiserverToken, typeof named> = true;
const augmented: Exact<FastifyRequest['apiserver'], ApiserverIdentity | undefined> = true;
app.get('/', async (request) => request.apiserver?.username);
// @ts-expect-error: hook is 'onRequest' | 'preHandler'
app.register(fastifyApiserverToken, { hook: 'onSend' });
export { augmented, sameExport };
`,
  node: `import type { ApiserverIdentity } from '@apiserver-token/core';
import { createApiserverTokenGuard, verifyApiserverToken } from '@apiserver-token/node';
import { createServer, type IncomingMessage } from 'node:http';
${EXACT}
const guard = createApiserverTokenGuard({ audience: 'https://a.example/validate' });
createServer(async (req, res) => {
  // undefined: refused and answered; null: observe mode let a refused request go on.
  const identity: ApiserverIdentity | null | undefined = await guard(req, res);
  return identity?.username;
});
const middleware = verifyApiserverToken({ errors: 'next' });
const augmented: Exact<IncomingMessage['apiserver'], ApiserverIdentity | undefined> = true;
// @ts-expect-error: errors is 'respond' | 'next'
verifyApiserverToken({ errors: 'throw' });
export { augmented, middleware };
`,
  hono: `import type { ApiserverIdentity } from '@apiserver-token/core';
import { type ApiserverEnv, verifyApiserverToken } from '@apiserver-token/hono';
import { Hono } from 'hono';
${EXACT}
const guard = verifyApiserverToken({ audience: 'https://a.example/validate' });
const app = new Hono().post('/validate', guard, (c) => {
  const typed: Exact<typeof c.var.apiserver, ApiserverIdentity> = true;
  return c.json({ typed });
});
const whole = new Hono<ApiserverEnv>().use(guard);
// @ts-expect-error: errors is 'respond' | 'throw'
verifyApiserverToken({ errors: 'next' });
export { app, whole };
`,
} as const;

describe.each(Object.entries(SOURCES))('%s type declarations (built)', (dir, source) => {
  it('keep the identity augmentation for ESM and CJS consumers', async () => {
    // Inside the package, so that its own name resolves through its `exports` map.
    const scratch = mkdtempSync(join(root, 'packages', dir, '.types-check-'));
    // One program per module kind: an augmentation seen in one file would apply to both.
    const check = async (file: string): Promise<[string, string]> => {
      writeFileSync(join(scratch, file), source);
      const project = join(scratch, `tsconfig.${file}.json`);
      writeFileSync(
        project,
        JSON.stringify({
          compilerOptions: {
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            target: 'ES2022',
            strict: true,
            esModuleInterop: true,
            noEmit: true,
            // Our own declarations are checked too, not only used.
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          files: [file],
        }),
      );
      const output = await run(process.execPath, [tsc, '-p', project], {
        cwd: scratch,
        timeout: 110_000,
      }).then(
        () => '',
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
      return [file, output];
    };
    try {
      const results = Object.fromEntries(await Promise.all([check('check.mts'), check('check.cts')]));
      expect(results).toEqual({ 'check.mts': '', 'check.cts': '' });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 120_000);
});
