import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

/**
 * The tests that talk to an apiserver through `@kubernetes/client-node` (TokenReview, hybrid,
 * SubjectAccessReview) run once with client-node 1.x and, where it runs (Node.js >= 22.19, which
 * its undici 8 needs), once more with 2.x — core's dev dependency `client-node-2`.
 */
const CLIENT_NODE_TESTS = [
  'packages/core/test/{hybrid-kit,policy,policy-subject-access-review,security-review}.test.ts',
  'packages/core/test/tokenreview-*.test.ts',
  'packages/testing/test/{client-node,token-request}.test.ts',
];
const [nodeMajor = 0, nodeMinor = 0] = process.versions.node.split('.').map(Number);
const runsClientNode2 = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 19);
const clientNode2 = realpathSync(
  fileURLToPath(new URL('./packages/core/node_modules/client-node-2', import.meta.url)),
);

const projects: TestProjectInlineConfiguration[] = [
  {
    extends: true,
    test: {
      name: 'client-node-1',
      include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.{ts,mjs}', 'test/**/*.test.ts'],
      env: { CLIENT_NODE_MAJOR: '1' },
    },
  },
];
if (runsClientNode2) {
  projects.push({
    extends: true,
    resolve: { alias: { '@kubernetes/client-node': clientNode2 } },
    test: {
      name: 'client-node-2',
      env: { CLIENT_NODE_MAJOR: '2' },
      include: CLIENT_NODE_TESTS,
      // This one builds core into an application and links each client-node major itself.
      exclude: ['packages/core/test/tokenreview-packaging.test.ts'],
      typecheck: { enabled: false },
    },
  });
}

/**
 * `@apiserver-token/nestjs?nest10`: the NestJS adapter's sources once more, with their `@nestjs/*`
 * imports taken from NestJS 10 (packages/nestjs/test/nest10) instead of the package's own NestJS
 * 11, as an app on Nest 10 would load it: one adapter module per Nest copy, so that its
 * HttpException is the one that copy's exception filter knows.
 */
function nestjs10(): Plugin {
  const suffix = '?nest10';
  const sources = fileURLToPath(new URL('./packages/nestjs/src/', import.meta.url));
  const nest10 = createRequire(new URL('./packages/nestjs/test/nest10/package.json', import.meta.url));
  return {
    name: 'apiserver-token:nestjs-10',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (source === `@apiserver-token/nestjs${suffix}`) return `${pkg('nestjs')}${suffix}`;
      if (importer === undefined || !importer.endsWith(suffix) || !importer.startsWith(sources)) return null;
      if (source.startsWith('@nestjs/')) return nest10.resolve(source);
      if (!source.startsWith('.')) return null;
      const resolved = await this.resolve(source, importer.slice(0, -suffix.length), { skipSelf: true });
      return resolved === null ? null : `${resolved.id}${suffix}`;
    },
  };
}

// Tests run against the TypeScript sources; test/packaging.test.ts checks the built dist.
export default defineConfig({
  plugins: [nestjs10()],
  // NestJS decorators (parameter decorators included) in the nestjs adapter's tests and sources.
  esbuild: { tsconfigRaw: { compilerOptions: { experimentalDecorators: true } } },
  resolve: {
    alias: {
      '@apiserver-token/core': pkg('core'),
      '@apiserver-token/express': pkg('express'),
      '@apiserver-token/koa': pkg('koa'),
      '@apiserver-token/fastify': pkg('fastify'),
      '@apiserver-token/node': pkg('node'),
      '@apiserver-token/hono': pkg('hono'),
      '@apiserver-token/nestjs': pkg('nestjs'),
      '@apiserver-token/testing': pkg('testing'),
    },
  },
  test: {
    // Each project names its files (arrays would add up across `extends`).
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // apiserver-token's own process warnings (type ApiserverTokenWarning; refused keys as
    // APISERVER_TOKEN_JWKS_KEY_SKIPPED) are provoked on purpose by many tests — issuers made
    // unreachable, observe mode, weak keys — and would fill the output. Node's --disable-warning
    // only stops their printing: the tests that check them still get them with
    // process.on('warning'). Every other warning (Node's, other libraries') is still printed.
    execArgv: [
      '--disable-warning=ApiserverTokenWarning',
      '--disable-warning=APISERVER_TOKEN_JWKS_KEY_SKIPPED',
    ],
    typecheck: {
      enabled: true,
      include: ['packages/*/test/**/*.test-d.ts', 'test/**/*.test-d.ts'],
      tsconfig: './tsconfig.test.json',
    },
    projects,
  },
});
