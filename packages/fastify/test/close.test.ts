import { fastifyApiserverToken } from '@apiserver-token/fastify';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASTIFY_VERSIONS } from './helpers.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
let api: TestApiserver;

beforeAll(async () => {
  api = await startTestApiserver();
});
afterAll(async () => {
  await api.close();
});

describe.each(FASTIFY_VERSIONS)('%s', (_name, Fastify) => {
  it('closes the verifier the plugin created when Fastify closes: its pending key fetch is cut at once', async () => {
    const app = Fastify();
    await app.register(async (scope) => {
      await scope.register(fastifyApiserverToken, {
        audience: AUDIENCE,
        issuer: api.issuer,
        jwks: { ca: api.ca, timeout: 10_000 },
        inCluster: false,
        env: {},
      });
      scope.get('/', async (request) => request.apiserver?.username);
    });
    await app.ready();
    // The issuer answers after 8 s: the first request waits on its key fetch…
    api.setFault('*', { latencyMs: 8000 });
    try {
      const before = api.calls('discovery') + api.calls('jwks');
      const token = await api.mintToken({ audiences: [AUDIENCE] });
      const started = Date.now();
      const pending = app.inject({ url: '/', headers: { authorization: `Bearer ${token}` } });
      await expect.poll(() => api.calls('discovery') + api.calls('jwks')).toBeGreaterThan(before);
      // …until Fastify closes: only the plugin's onClose hook can end that fetch now.
      await app.close();
      const res = await pending;
      expect(Date.now() - started).toBeLessThan(4000);
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
    } finally {
      api.clearFaults();
    }
  });
});
