/**
 * `@kubernetes/client-node` is an optional peer dependency loaded lazily: core is built (ESM and
 * CJS) into a temporary application that has only core's own dependencies, where the jwks mode
 * must work and the tokenreview/hybrid modes must fail at construction saying what to install;
 * then, with client-node installed, both builds must run a real TokenReview. `prom-client` is
 * optional the same way: loaded only for `metrics`, and its absence named at construction.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReviewServer, reviewAnswer, startReviewServer } from './helpers/review-server.js';

const run = promisify(execFile);
const coreDir = fileURLToPath(new URL('..', import.meta.url));
const requireFromCore = createRequire(join(coreDir, 'package.json'));
const packageDir = (name: string) => realpathSync(join(coreDir, 'node_modules', name));

let dir: string;
let server: ReviewServer;

/** client-node 2.x (through undici 8) runs on Node.js 22.19 and later. */
const [nodeMajor = 0, nodeMinor = 0] = process.versions.node.split('.').map(Number);
const runsClientNode2 = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 19);

function app(
  name: string,
  withClientNode: false | 'client-node-1' | 'client-node-2',
  withPromClient = false,
): string {
  const root = join(dir, name);
  const modules = join(root, 'node_modules');
  mkdirSync(join(modules, '@apiserver-token', 'core'), { recursive: true });
  cpSync(join(dir, 'dist'), join(modules, '@apiserver-token', 'core', 'dist'), { recursive: true });
  cpSync(join(coreDir, 'package.json'), join(modules, '@apiserver-token', 'core', 'package.json'));
  symlinkSync(packageDir('lru-cache'), join(modules, 'lru-cache'));
  if (withClientNode) {
    mkdirSync(join(modules, '@kubernetes'));
    const installed = withClientNode === 'client-node-2' ? 'client-node-2' : '@kubernetes/client-node';
    symlinkSync(packageDir(installed), join(modules, '@kubernetes', 'client-node'));
  }
  if (withPromClient) symlinkSync(packageDir('prom-client'), join(modules, 'prom-client'));
  return root;
}

async function node(cwd: string, file: string, code: string): Promise<string> {
  writeFileSync(join(cwd, file), code);
  // Package-manager shims set NODE_PATH to their store, where client-node would be found anyway.
  const { NODE_PATH: _ignored, ...env } = process.env;
  const { stdout } = await run(process.execPath, [file], { cwd, env, timeout: 30_000 });
  return stdout.trim();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'core-packaging-'));
  const tsup = join(
    realpathSync(requireFromCore.resolve('tsup/package.json').replace(/package\.json$/, '')),
    'dist',
    'cli-default.js',
  );
  await run(
    process.execPath,
    [
      tsup,
      'src/index.ts',
      '--format',
      'esm,cjs',
      '--target',
      'node20',
      '--out-dir',
      join(dir, 'dist'),
      '--silent',
    ],
    { cwd: coreDir, timeout: 120_000 },
  );
  server = await startReviewServer(() =>
    reviewAnswer({
      authenticated: true,
      user: { username: 'admin', groups: [] },
      audiences: ['https://wh.example'],
    }),
  );
}, 180_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const CONSTRUCT = (mode: string) =>
  `try { createVerifier({ audience: 'https://wh.example', mode: '${mode}', env: {} }); console.log('constructed'); }
   catch (e) { console.log(JSON.stringify({ name: e.name, field: e.field, message: e.message })); }`;

describe('@kubernetes/client-node is optional and lazy', () => {
  it('without it: jwks works, tokenreview and hybrid fail at construction saying what to install', async () => {
    const root = app('without', false);
    const esm = await node(
      root,
      'check.mjs',
      `import { createVerifier } from '@apiserver-token/core';
       const v = createVerifier({ audience: 'https://wh.example', issuer: 'https://issuer.example',
         jwks: { keys: { keys: [{ kty: 'EC', crv: 'P-256', kid: 'k', x: 'MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4', y: '4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM' }] } }, env: {} });
       const e = await v.verifyToken('x.y.z').catch((error) => error);
       console.log('jwks:', e.code);
       ${CONSTRUCT('tokenreview')}`,
    );
    const lines = esm.split('\n');
    expect(lines[0]).toBe('jwks: malformed_token');
    const error = JSON.parse(lines[1] as string);
    expect(error).toMatchObject({ name: 'ApiserverTokenConfigError', field: 'mode' });
    expect(error.message).toContain('npm install @kubernetes/client-node');
    const cjs = JSON.parse(
      await node(
        root,
        'check.cjs',
        `const { createVerifier } = require('@apiserver-token/core'); ${CONSTRUCT('hybrid')}`,
      ),
    );
    expect(cjs).toMatchObject({ name: 'ApiserverTokenConfigError', field: 'mode' });
  });

  async function reviewBothBuilds(version: 'client-node-1' | 'client-node-2'): Promise<void> {
    const root = app(`with-${version}`, version);
    const before = server.received.length;
    const review = (load: string) => `${load}
      (async () => {
        const v = createVerifier({ audience: 'https://wh.example', mode: 'tokenreview',
          kubeconfig: ${JSON.stringify(server.kubeconfigPath)}, tokenReview: { allowOpaqueTokens: true }, env: {} });
        const identity = await v.verifyToken('opaque-static-token');
        console.log(identity.username, identity.verifiedBy);
        await v.close();
      })();`;
    expect(
      await node(root, 'review.mjs', review("import { createVerifier } from '@apiserver-token/core';")),
    ).toBe('admin tokenreview');
    expect(
      await node(root, 'review.cjs', review("const { createVerifier } = require('@apiserver-token/core');")),
    ).toBe('admin tokenreview');
    expect(server.received.length - before).toBe(2);
  }

  it('with client-node 1.x: both the ESM and the CommonJS build load it on demand and review a token', () =>
    reviewBothBuilds('client-node-1'));

  it.skipIf(!runsClientNode2)('with client-node 2.x (Node.js >= 22.19): both builds review a token', () =>
    reviewBothBuilds('client-node-2'),
  );

  it.skipIf(runsClientNode2)(
    'client-node 2.x below Node.js 22.19: construction says exactly that',
    async () => {
      const root = app('client-node-2-old-node', 'client-node-2');
      const version = (requireFromCore('client-node-2/package.json') as { version: string }).version;
      for (const [file, load] of [
        ['old.mjs', "import { createVerifier } from '@apiserver-token/core';"],
        ['old.cjs', "const { createVerifier } = require('@apiserver-token/core');"],
      ] as const) {
        const error = JSON.parse(await node(root, file, `${load} ${CONSTRUCT('tokenreview')}`));
        expect(error).toEqual({
          name: 'ApiserverTokenConfigError',
          field: 'mode',
          message:
            'apiserver-token: invalid option `mode`: ' +
            `\`@kubernetes/client-node\` ${version} is installed, and 2.x needs Node.js >= 22.19 ` +
            `(this is Node.js ${process.versions.node}): npm install @kubernetes/client-node@^1, ` +
            `or run on Node.js >= 22.19, or use mode 'jwks'`,
        });
      }
    },
  );
});

const STATIC_KEYS = `{ keys: [{ kty: 'EC', crv: 'P-256', kid: 'k', x: 'MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4', y: '4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM' }] }`;
const METERED = (metrics: string) =>
  `try {
     const v = createVerifier({ audience: 'https://wh.example', issuer: 'https://issuer.example',
       jwks: { keys: ${STATIC_KEYS} }, env: {}, metrics: ${metrics} });
     v.verifyToken('x.y.z').catch(() => {}).then(async () => {
       const { register } = require('prom-client');
       const text = await register.metrics();
       console.log(text.match(/^apiserver_token_requests_total.*$/m)[0]);
       await v.close();
     });
   } catch (e) { console.log(JSON.stringify({ name: e.name, field: e.field, message: e.message })); }`;

describe('prom-client is optional and loaded only for metrics', () => {
  it('without it: metrics: true fails at construction naming prom-client (verifiers without metrics need nothing, above)', async () => {
    const root = app('without-prom', false);
    const cjs = JSON.parse(
      await node(
        root,
        'metrics.cjs',
        `const { createVerifier } = require('@apiserver-token/core'); ${METERED('true')}`,
      ),
    );
    expect(cjs).toMatchObject({ name: 'ApiserverTokenConfigError', field: 'metrics' });
    expect(cjs.message).toContain('npm install prom-client');
    const esm = JSON.parse(
      await node(
        root,
        'metrics.mjs',
        `import { createRequire } from 'node:module'; import { createVerifier } from '@apiserver-token/core';
         const require = createRequire(import.meta.url); ${METERED('true')}`,
      ),
    );
    expect(esm).toMatchObject({ name: 'ApiserverTokenConfigError', field: 'metrics' });
  });

  it('with it: both builds load it on demand and count into its default registry', async () => {
    const root = app('with-prom', false, true);
    expect(
      await node(
        root,
        'metrics.cjs',
        `const { createVerifier } = require('@apiserver-token/core'); ${METERED('true')}`,
      ),
    ).toBe('apiserver_token_requests_total{outcome="rejected",verified_by="jwks",code="malformed_token"} 1');
    expect(
      await node(
        root,
        'metrics.mjs',
        `import { createRequire } from 'node:module'; import { createVerifier } from '@apiserver-token/core';
         const require = createRequire(import.meta.url); ${METERED('true')}`,
      ),
    ).toBe('apiserver_token_requests_total{outcome="rejected",verified_by="jwks",code="malformed_token"} 1');
  });
});
