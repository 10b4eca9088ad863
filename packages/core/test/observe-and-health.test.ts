import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApiserverTokenVerifier,
  createHttpAuthenticator,
  createVerifier,
  type VerifierOptions,
} from '../src/index.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const kits: TestApiserver[] = [];
const verifiers: ApiserverTokenVerifier[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
  await Promise.all(kits.splice(0).map((kit) => kit.close()));
});
process.on('warning', () => {}); // observe-mode warnings are expected here

async function setup(extra: Partial<VerifierOptions> = {}) {
  const api = await startTestApiserver();
  kits.push(api);
  const v = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    env: {},
    inCluster: false,
    ...extra,
  });
  verifiers.push(v);
  return { api, v };
}

describe('observe mode', () => {
  it('is off by default; enforce: false and APISERVER_TOKEN_ENFORCE=false turn it on', async () => {
    const { api, v } = await setup();
    expect(v.enforcing).toBe(true);
    expect(v.health().enforcing).toBe(true);
    const viaEnv = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      inCluster: false,
      env: { APISERVER_TOKEN_ENFORCE: 'false' },
    });
    verifiers.push(viaEnv);
    expect(viaEnv.enforcing).toBe(false);
    expect(viaEnv.health().warnings.join()).toContain('observe mode');
  });

  it('verifies exactly as enforcing: verify() still rejects, the HTTP layer lets the request go on without identity', async () => {
    const { api, v } = await setup({ enforce: false });
    const forged = await api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign' });
    // A foreign key's own kid is not among the issuer's keys: unknown_key, as kube-apiserver 1.32+.
    await expect(v.verify({ headers: { authorization: `Bearer ${forged}` } })).rejects.toMatchObject({
      code: 'unknown_key',
    });
    const rejected: unknown[] = [];
    const http = createHttpAuthenticator({ verifier: v, onRejected: (error) => rejected.push(error) });
    const outcome = await http.authenticate({ headers: { authorization: `Bearer ${forged}` } }, undefined);
    expect(outcome).toMatchObject({ ok: false, observed: true, error: { code: 'unknown_key' } });
    expect(rejected).toHaveLength(1);
    const genuine = await api.mintToken({ audiences: [AUDIENCE] });
    const accepted = await http.authenticate({ headers: { authorization: `Bearer ${genuine}` } }, undefined);
    expect(accepted.ok).toBe(true);
  });

  it('an enforcing verifier never marks an outcome observed', async () => {
    const { api, v } = await setup();
    const http = createHttpAuthenticator({ verifier: v });
    const forged = await api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign' });
    const outcome = await http.authenticate({ headers: { authorization: `Bearer ${forged}` } }, undefined);
    expect(outcome.ok).toBe(false);
    expect(outcome.ok === false && outcome.observed).toBeFalsy();
  });
});

describe('health()', () => {
  it('reports mode, keys held and their age, cache size, and the last refresh error', async () => {
    const { api, v } = await setup();
    const before = v.health();
    expect(before).toMatchObject({
      mode: 'jwks',
      enforcing: true,
      ready: false,
      cache: { size: 0, max: 10_000 },
    });
    expect(before.keySets).toEqual([
      expect.objectContaining({ keys: 0, ageSeconds: undefined, fresh: false, lastError: undefined }),
    ]);
    await v.ready();
    await v.verify({
      headers: { authorization: `Bearer ${await api.mintToken({ audiences: [AUDIENCE] })}` },
    });
    const after = v.health();
    expect(after.ready).toBe(true);
    expect(after.keySets[0]).toMatchObject({ fresh: true, ageSeconds: 0, lastError: undefined });
    expect(after.keySets[0]?.keys).toBeGreaterThan(0);
    expect(after.cache.size).toBe(1);
    expect(after.warnings).toEqual([]);

    const unreachable = createVerifier({ audience: AUDIENCE, issuer: api.issuer, env: {}, inCluster: false });
    verifiers.push(unreachable);
    await expect(unreachable.ready()).rejects.toMatchObject({ code: 'issuer_unavailable' });
    const failing = unreachable.health();
    expect(failing.ready).toBe(false);
    expect(failing.keySets[0]?.lastError).toMatch(/certificate/);
    expect(failing.warnings.join()).toMatch(/certificate/);
  });

  it('in tokenreview mode, reports TokenReviews in flight and queued', async () => {
    const api = await startTestApiserver();
    kits.push(api);
    const v = createVerifier({
      audience: AUDIENCE,
      mode: 'tokenreview',
      kubeconfig: api.kubeconfigPath,
      env: {},
      inCluster: false,
    });
    verifiers.push(v);
    expect(v.health().tokenReview).toEqual({ inFlight: 0, queued: 0, lastError: undefined });
    expect(v.health().keySets).toEqual([]);
  });
});

describe('ready() in tokenreview mode checks what matters', () => {
  it('resolves once the apiserver said our credentials may create TokenReviews (SelfSubjectAccessReview)', async () => {
    const api = await startTestApiserver();
    kits.push(api);
    const v = createVerifier({
      audience: AUDIENCE,
      mode: 'tokenreview',
      kubeconfig: api.kubeconfigPath,
      env: {},
      inCluster: false,
    });
    verifiers.push(v);
    expect(v.health().ready).toBe(false);
    await v.ready();
    expect(api.calls('selfsubjectaccessreviews')).toBe(1);
    expect(api.requests('selfsubjectaccessreviews')[0]?.body).toMatchObject({
      spec: {
        resourceAttributes: { group: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' },
      },
    });
    expect(api.calls('tokenreviews')).toBe(0);
    expect(v.health().ready).toBe(true);
    await v.ready();
    expect(api.calls('selfsubjectaccessreviews')).toBe(1);
  });

  it('rejects when the credentials may not create TokenReviews', async () => {
    const api = await startTestApiserver();
    kits.push(api);
    const user = await api.addUser({ name: 'no-review' });
    const v = createVerifier({
      audience: AUDIENCE,
      mode: 'tokenreview',
      kubeconfig: user.kubeconfigPath,
      env: {},
      inCluster: false,
    });
    verifiers.push(v);
    await expect(v.ready()).rejects.toMatchObject({
      code: 'apiserver_unavailable',
      message: expect.stringContaining('may not create tokenreviews'),
    });
    expect(v.health().ready).toBe(false);
    expect(v.health().tokenReview?.lastError).toContain('may not create tokenreviews');
  });

  it('rejects when the apiserver is down', async () => {
    const api = await startTestApiserver();
    kits.push(api);
    api.setFault('*', { down: true });
    const v = createVerifier({
      audience: AUDIENCE,
      mode: 'tokenreview',
      kubeconfig: api.kubeconfigPath,
      tokenReview: { deadline: 2000, timeout: 500 },
      env: {},
      inCluster: false,
    });
    verifiers.push(v);
    await expect(v.ready()).rejects.toMatchObject({ code: 'apiserver_unavailable' });
  });
});
