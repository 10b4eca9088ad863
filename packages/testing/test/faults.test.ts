import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { call } from './helpers.js';

describe('counters and fault injection', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());
  afterEach(() => {
    api.clearFaults();
    api.resetCalls();
  });

  it('counts calls per endpoint and records requests', async () => {
    await call(api, '/.well-known/openid-configuration');
    await call(api, '/openid/v1/jwks');
    await call(api, '/openid/v1/jwks');
    expect(api.calls('openid-configuration')).toBe(1);
    expect(api.calls('discovery')).toBe(1);
    expect(api.calls('jwks')).toBe(2);
    expect(api.calls()).toEqual({
      'openid-configuration': 1,
      jwks: 2,
      tokenreviews: 0,
      subjectaccessreviews: 0,
      selfsubjectaccessreviews: 0,
      tokenrequests: 0,
    });
    expect(api.requests('jwks').map((r) => [r.method, r.url, r.status, r.user])).toEqual([
      ['GET', '/openid/v1/jwks', 200, 'system:anonymous'],
      ['GET', '/openid/v1/jwks', 200, 'system:anonymous'],
    ]);
    api.resetCalls();
    expect(api.calls('jwks')).toBe(0);
    expect(api.requests()).toEqual([]);
  });

  it('status faults answer a Status with Retry-After, and count', async () => {
    api.setFault('jwks', { status: 429, retryAfter: 3 });
    const res = await call(api, '/openid/v1/jwks');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.json()).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    for (const status of [500, 502, 503]) {
      api.setFault('discovery', { status });
      expect((await call(api, '/.well-known/openid-configuration')).status).toBe(status);
    }
    expect(api.calls('jwks')).toBe(1);
    expect(api.calls('openid-configuration')).toBe(3);
    expect(api.faults).toEqual({
      jwks: { status: 429, retryAfter: 3 },
      'openid-configuration': { status: 503 },
    });
  });

  it('latency delays the answer', async () => {
    api.setFault('jwks', { latencyMs: 250 });
    const started = performance.now();
    const res = await call(api, '/openid/v1/jwks');
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('down drops the connection without an answer; reset cuts the body; malformed truncates it', async () => {
    api.setFault('jwks', { down: true });
    await expect(call(api, '/openid/v1/jwks')).rejects.toThrow(/socket hang up|ECONNRESET/);

    api.setFault('jwks', { reset: true });
    await expect(call(api, '/openid/v1/jwks')).rejects.toThrow(/aborted|ECONNRESET|socket hang up/);

    api.setFault('jwks', { malformed: true });
    const res = await call(api, '/openid/v1/jwks');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/jwk-set+json');
    expect(() => res.json()).toThrow(SyntaxError);
    expect(api.calls('jwks')).toBe(3);
  });

  it("'*' hits every endpoint, an endpoint's own fault wins, and times makes it transient", async () => {
    api.setFault('*', { status: 503 });
    api.setFault('jwks', { status: 500, times: 2 });
    expect((await call(api, '/.well-known/openid-configuration')).status).toBe(503);
    expect((await call(api, '/openid/v1/jwks')).status).toBe(500);
    expect((await call(api, '/openid/v1/jwks')).status).toBe(500);
    expect((await call(api, '/openid/v1/jwks')).status).toBe(503);
    api.clearFaults('*');
    expect((await call(api, '/openid/v1/jwks')).status).toBe(200);
    expect(api.faults).toEqual({});
  });

  it('rejects invalid faults', () => {
    expect(() => api.setFault('nope' as never, { down: true })).toThrow(/unknown target/);
    expect(() => api.setFault('jwks', { status: 200 })).toThrow(/status/);
    expect(() => api.setFault('jwks', { latencyMs: -1 })).toThrow(/latencyMs/);
    expect(() => api.setFault('jwks', { times: 0 })).toThrow(/times/);
  });

  it('close() does not wait for requests stuck in injected latency', async () => {
    const kit = await startTestApiserver();
    kit.setFault('*', { latencyMs: 60_000 });
    const pending = call(kit, '/openid/v1/jwks').catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await kit.close();
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await pending).toBeInstanceOf(Error);
  });
});
