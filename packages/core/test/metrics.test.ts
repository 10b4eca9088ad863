/**
 * `metrics`: real traffic over real sockets (the testing kit as apiserver, a webhook-like HTTP
 * server in front of the verifier), then the metrics read back as a monitoring system would —
 * scraped over HTTP from a real prom-client registry, and exported through the OpenTelemetry
 * SDK's in-memory exporter — must agree with the requests sent.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiserverTokenConfigError,
  type ApiserverTokenVerifier,
  createHttpAuthenticator,
  createVerifier,
  METRIC_NAMES,
  type VerifierOptions,
} from '../src/index.js';
import { otelMeter, otelValue, sampleValue, serveRegistry } from './helpers/metrics-readers.js';
import { call, startVerifyingServer } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function kit(): Promise<TestApiserver> {
  const api = await startTestApiserver();
  cleanups.push(() => api.close());
  return api;
}

function verifier(api: TestApiserver, options: Partial<VerifierOptions>): ApiserverTokenVerifier {
  const created = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    inCluster: false,
    env: {},
    ...options,
  });
  cleanups.push(() => created.close());
  return created;
}

async function serve(v: ApiserverTokenVerifier) {
  const server = await startVerifyingServer(v);
  cleanups.push(() => server.close());
  return server;
}

const DEPLOYMENTS = { verb: 'get', group: 'apps', resource: 'deployments', namespace: 'prod' };

describe('metrics scraped from a prom-client registry over HTTP', () => {
  it('agree with the requests sent: outcomes, codes, cache, latency, JWKS, TokenReviews, SubjectAccessReviews', async () => {
    const api = await kit();
    api.allow({
      user: 'system:serviceaccount:kube-system:webhook-auth',
      verb: 'get',
      apiGroup: 'apps',
      resource: 'deployments',
    });
    const registry = new Registry();
    const metrics = await serveRegistry(registry);
    cleanups.push(() => metrics.close());
    const v = verifier(api, {
      mode: 'hybrid',
      kubeconfig: api.kubeconfigPath,
      // Generous timeouts: the counts must not depend on how loaded the test machine is.
      jwks: { ca: api.ca, timeout: 20_000 },
      tokenReview: { timeout: 20_000, deadline: 25_000 },
      policy: { subjectAccessReview: { resourceAttributes: DEPLOYMENTS, timeout: 20_000 } },
      metrics: { registry },
    });
    await v.ready();
    const { url } = await serve(v);

    const before = await metrics.scrape();
    // Before any traffic every series already exists, at zero, so alerts and rate() see them from the start.
    expect(sampleValue(before, 'apiserver_token_requests_total')).toBe(0);
    expect(sampleValue(before, 'apiserver_token_tokenreviews_refused_total', { reason: 'queue_full' })).toBe(
      0,
    );

    const allowed = await api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      audiences: [AUDIENCE],
    });
    const refused = await api.mintToken({
      namespace: 'intruders',
      serviceAccount: 'probe',
      audiences: [AUDIENCE],
    });
    const expired = await api.mintToken({
      audiences: [AUDIENCE],
      issuedAt: Date.now() / 1000 - 4000,
      expiresIn: 600,
    });
    // Signed with a key the issuer never published, under that key's own kid: unknown_key.
    const forged = await api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign' });
    const revoked = await api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      audiences: [AUDIENCE],
      boundObject: { kind: 'Pod', name: 'gone-0' },
    });
    api.deleteObject('Pod', 'kube-system', 'gone-0');

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(url, allowed)).status);
    for (let i = 0; i < 2; i++) statuses.push((await call(url, refused)).status);
    statuses.push((await call(url, expired)).status);
    statuses.push((await call(url, forged)).status);
    statuses.push((await call(url, revoked)).status);
    statuses.push((await call(url, '')).status);
    expect(statuses).toEqual([200, 200, 200, 403, 403, 401, 401, 401, 401]);

    const after = await metrics.scrape();
    const requests = (labels: Record<string, string>) =>
      sampleValue(after, 'apiserver_token_requests_total', labels);
    expect(requests({})).toBe(9);
    expect(requests({ outcome: 'accepted', verified_by: 'hybrid' })).toBe(3);
    expect(requests({ outcome: 'rejected', code: 'forbidden' })).toBe(2);
    expect(requests({ outcome: 'rejected', code: 'expired' })).toBe(1);
    expect(requests({ outcome: 'rejected', code: 'unknown_key' })).toBe(1);
    expect(requests({ outcome: 'rejected', code: 'revoked' })).toBe(1);
    expect(requests({ outcome: 'rejected', code: 'malformed_authorization' })).toBe(1);
    expect(requests({ outcome: 'unavailable' })).toBe(0);

    // Hits: the allowed token twice, the refused one once (its identity is cached, the SAR says no).
    expect(sampleValue(after, 'apiserver_token_cache_hits_total')).toBe(3);
    expect(sampleValue(after, 'apiserver_token_cache_misses_total')).toBe(5);
    // Entries: the allowed and refused identities, and the apiserver's "no" to the revoked token
    // (kept for tokenReview.failureCacheTtl).
    expect(sampleValue(after, 'apiserver_token_cache_entries')).toBe(3);
    expect(sampleValue(after, 'apiserver_token_cache_evictions_total')).toBe(0);
    // The request without a token never reached the cache: counted, not timed.
    expect(sampleValue(after, 'apiserver_token_verification_duration_seconds_count', { cache: 'hit' })).toBe(
      3,
    );
    expect(sampleValue(after, 'apiserver_token_verification_duration_seconds_count', { cache: 'miss' })).toBe(
      5,
    );
    const hitSeconds = sampleValue(after, 'apiserver_token_verification_duration_seconds_sum', {
      cache: 'hit',
    });
    expect(hitSeconds).toBeGreaterThan(0);
    expect(
      sampleValue(after, 'apiserver_token_verification_duration_seconds_bucket', {
        cache: 'miss',
        le: '+Inf',
      }),
    ).toBe(5);

    expect(sampleValue(after, 'apiserver_token_jwks_refreshes_total', { result: 'success' })).toBe(
      api.calls('jwks'),
    );
    expect(sampleValue(after, 'apiserver_token_jwks_refreshes_total', { result: 'failure' })).toBe(0);
    expect(sampleValue(after, 'apiserver_token_jwks_keys')).toBeGreaterThanOrEqual(1);
    const lastSuccess = sampleValue(after, 'apiserver_token_jwks_last_success_timestamp_seconds');
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
    expect(sampleValue(after, 'apiserver_token_jwks_age_seconds')).toBeLessThan(60);

    // Local verification passed for allowed, refused and revoked: three TokenReviews, one "no".
    expect(api.calls('tokenreviews')).toBe(3);
    expect(sampleValue(after, 'apiserver_token_tokenreviews_total', { result: 'accepted' })).toBe(2);
    expect(sampleValue(after, 'apiserver_token_tokenreviews_total', { result: 'rejected' })).toBe(1);
    expect(sampleValue(after, 'apiserver_token_tokenreviews_total', { result: 'error' })).toBe(0);
    expect(sampleValue(after, 'apiserver_token_tokenreviews_in_flight')).toBe(0);
    expect(sampleValue(after, 'apiserver_token_tokenreviews_queued')).toBe(0);

    // One decision each, then cached for its TTL.
    expect(api.calls('subjectaccessreviews')).toBe(2);
    expect(sampleValue(after, 'apiserver_token_subjectaccessreviews_total', { decision: 'allowed' })).toBe(1);
    expect(sampleValue(after, 'apiserver_token_subjectaccessreviews_total', { decision: 'denied' })).toBe(1);

    // Bounded cardinality: only enumerated labels, never a user, token or path.
    const labelNames = new Set(
      after.filter((s) => s.name.startsWith('apiserver_token_')).flatMap((s) => Object.keys(s.labels)),
    );
    expect([...labelNames].sort()).toEqual([
      'cache',
      'code',
      'decision',
      'le',
      'outcome',
      'reason',
      'result',
      'verified_by',
    ]);
    const text = JSON.stringify(after);
    for (const secret of [allowed, 'webhook-auth', 'kube-system', '/validate'])
      expect(text).not.toContain(secret);
  });

  it('counts evictions at cache.max, and verifiers sharing a registry add up, closed ones included', async () => {
    const api = await kit();
    const registry = new Registry();
    const metrics = await serveRegistry(registry);
    cleanups.push(() => metrics.close());
    const small = verifier(api, { cache: { max: 2 }, metrics: { registry } });
    const other = verifier(api, { metrics: { registry } });
    const { url } = await serve(small);
    const tokens = await Promise.all(
      [0, 1, 2, 3].map((i) => api.mintToken({ serviceAccount: `sa-${i}`, audiences: [AUDIENCE] })),
    );
    for (const token of tokens) expect((await call(url, token)).status).toBe(200);
    await other.verifyToken(tokens[0] as string);
    let samples = await metrics.scrape();
    expect(sampleValue(samples, 'apiserver_token_cache_evictions_total')).toBe(2);
    expect(sampleValue(samples, 'apiserver_token_cache_entries')).toBe(3);
    expect(
      sampleValue(samples, 'apiserver_token_requests_total', { outcome: 'accepted', verified_by: 'jwks' }),
    ).toBe(5);
    await small.close();
    samples = await metrics.scrape();
    // The closed verifier's counts stay in the totals (a counter never goes down); its levels go.
    expect(sampleValue(samples, 'apiserver_token_requests_total', { outcome: 'accepted' })).toBe(5);
    expect(sampleValue(samples, 'apiserver_token_cache_misses_total')).toBe(5);
    expect(sampleValue(samples, 'apiserver_token_cache_entries')).toBe(1);
  });
});

describe('metrics in observe mode', () => {
  it("count a request enforcing would have refused as 'observed', with its code; accepted stays accepted", async () => {
    const api = await kit();
    const registry = new Registry();
    const metrics = await serveRegistry(registry);
    cleanups.push(() => metrics.close());
    const observing = verifier(api, { enforce: false, metrics: { registry } });
    // Observe mode lives in the HTTP layer, so the webhook here runs it as the adapters do.
    const http = createHttpAuthenticator({ verifier: observing });
    const server = createServer(async (req, res) => {
      const outcome = await http.authenticate(
        { headers: req.headers, rawHeaders: req.rawHeaders },
        undefined,
      );
      const through = outcome.ok || outcome.observed === true;
      res.writeHead(through ? 200 : outcome.response.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ username: outcome.ok ? outcome.identity.username : null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/validate`;
    const genuine = await api.mintToken({ audiences: [AUDIENCE] });
    const expired = await api.mintToken({ audiences: [AUDIENCE], issuedAt: 1_000_000, expiresIn: 600 });
    expect((await call(url, genuine)).status).toBe(200);
    expect((await call(url, expired)).status).toBe(200);
    const samples = await metrics.scrape();
    expect(sampleValue(samples, 'apiserver_token_requests_total', { outcome: 'accepted' })).toBe(1);
    expect(
      sampleValue(samples, 'apiserver_token_requests_total', { outcome: 'observed', code: 'expired' }),
    ).toBe(1);
    expect(sampleValue(samples, 'apiserver_token_requests_total', { outcome: 'rejected' })).toBe(0);
  });
});

describe('metrics through an OpenTelemetry meter', () => {
  it('agree with the requests sent, and show TokenReviews in flight and refused at the cap', async () => {
    const api = await kit();
    const otel = otelMeter();
    cleanups.push(() => otel.shutdown());
    const v = verifier(api, {
      mode: 'tokenreview',
      kubeconfig: api.kubeconfigPath,
      tokenReview: { maxInFlight: 1, maxQueued: 0, timeout: 20_000, deadline: 25_000 },
      metrics: { meter: otel.meter },
    });
    const { url } = await serve(v);
    const tokens = await Promise.all(
      [0, 1, 2].map((i) => api.mintToken({ serviceAccount: `caller-${i}`, audiences: [AUDIENCE] })),
    );
    expect((await call(url, tokens[0] as string)).status).toBe(200);
    expect((await call(url, tokens[0] as string)).status).toBe(200);

    api.setFault('tokenreviews', { latencyMs: 1500, times: 1 });
    const slow = call(url, tokens[1] as string);
    let during = await otel.read();
    for (let i = 0; i < 100 && otelValue(during, 'apiserver_token_tokenreviews_in_flight') === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      during = await otel.read();
    }
    expect(otelValue(during, 'apiserver_token_tokenreviews_in_flight')).toBe(1);
    // The one slot is taken and nothing may queue: refused at once, a 503.
    const refusedCall = await call(url, tokens[2] as string);
    expect(refusedCall.status).toBe(503);
    expect((await slow).status).toBe(200);

    const after = await otel.read();
    const requests = (attributes: Record<string, string>) =>
      otelValue(after, 'apiserver_token_requests_total', attributes);
    expect(requests({})).toBe(4);
    expect(requests({ outcome: 'accepted', verified_by: 'tokenreview' })).toBe(3);
    expect(
      requests({ outcome: 'unavailable', code: 'apiserver_unavailable', verified_by: 'tokenreview' }),
    ).toBe(1);
    expect(otelValue(after, 'apiserver_token_tokenreviews_refused_total', { reason: 'queue_full' })).toBe(1);
    expect(otelValue(after, 'apiserver_token_tokenreviews_total', { result: 'accepted' })).toBe(2);
    expect(otelValue(after, 'apiserver_token_tokenreviews_total', { result: 'error' })).toBe(1);
    expect(otelValue(after, 'apiserver_token_tokenreviews_in_flight')).toBe(0);
    expect(otelValue(after, 'apiserver_token_cache_hits_total')).toBe(1);
    expect(otelValue(after, 'apiserver_token_cache_misses_total')).toBe(3);
    expect(otelValue(after, 'apiserver_token_verification_duration_seconds', { cache: 'hit' })).toBe(1);
    expect(otelValue(after, 'apiserver_token_verification_duration_seconds', { cache: 'miss' })).toBe(3);
    // No key set in the tokenreview mode, so no JWKS series; every name is one of METRIC_NAMES.
    expect(after.has('apiserver_token_jwks_keys')).toBe(false);
    for (const name of after.keys()) expect(METRIC_NAMES).toContain(name);
  });
});

describe('the metrics option', () => {
  it('is off by default: nothing registered in prom-client', async () => {
    const api = await kit();
    const { register } = await import('prom-client');
    const v = verifier(api, {});
    await v.verifyToken(await api.mintToken({ audiences: [AUDIENCE] }));
    expect(register.getSingleMetric('apiserver_token_requests_total')).toBeUndefined();
  });

  it("true uses prom-client's default registry", async () => {
    const api = await kit();
    const { register } = await import('prom-client');
    cleanups.push(async () => register.clear());
    const v = verifier(api, { metrics: true });
    await v.verifyToken(await api.mintToken({ audiences: [AUDIENCE] }));
    expect(await register.metrics()).toMatch(
      /apiserver_token_requests_total\{outcome="accepted",verified_by="jwks"\} 1/,
    );
    // A cleared registry (as tests do between cases) gets the instruments again.
    register.clear();
    const again = verifier(api, { metrics: true });
    await again.verifyToken(await api.mintToken({ audiences: [AUDIENCE] }));
    expect(await register.metrics()).toMatch(
      /apiserver_token_requests_total\{outcome="accepted",verified_by="jwks"\} 1/,
    );
  });

  it.each([
    ['yes', 'metrics', /must be true/],
    [{}, 'metrics', /must be true/],
    [{ registry: {} }, 'metrics.registry', /prom-client Registry/],
    [{ meter: {} }, 'metrics.meter', /OpenTelemetry Meter/],
    [{ registry: new Registry(), meter: {} }, 'metrics', /not both/],
    [{ registy: new Registry() }, 'metrics.registy', /unknown option/],
  ])('refuses %o at construction, naming %s', (metrics, field, message) => {
    let error: unknown;
    try {
      createVerifier({
        audience: AUDIENCE,
        issuer: 'https://issuer.example',
        env: {},
        metrics: metrics as never,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toMatch(message);
  });
});
