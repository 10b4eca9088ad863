import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests run against the TypeScript sources; test/packaging.test.ts checks the built dist.
export default defineConfig({
  resolve: {
    alias: {
      '@apiserver-token/core': pkg('core'),
      '@apiserver-token/express': pkg('express'),
      '@apiserver-token/koa': pkg('koa'),
      '@apiserver-token/fastify': pkg('fastify'),
      '@apiserver-token/node': pkg('node'),
      '@apiserver-token/hono': pkg('hono'),
      '@apiserver-token/testing': pkg('testing'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.{ts,mjs}', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    typecheck: {
      enabled: true,
      include: ['packages/*/test/**/*.test-d.ts', 'test/**/*.test-d.ts'],
      tsconfig: './tsconfig.test.json',
    },
  },
});
