import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { call } from './helpers.js';

interface ReviewStatus {
  authenticated?: boolean;
  user: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

describe('TokenReview semantics beyond the recordings', () => {
  let now = Date.parse('2026-11-23T12:00:00Z');
  let api: TestApiserver;
  beforeAll(async () => {
    // Revocation is tested here without kube-apiserver's 10 s success cache (its own test is below).
    api = await startTestApiserver({ now: () => now, tokenReviewCache: false });
  });
  afterAll(() => api.close());
  afterEach(() => api.clearFaults());

  async function review(token: string, audiences?: string[]): Promise<ReviewStatus> {
    const res = await call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
      token: api.reviewer.token,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(audiences ? { audiences } : {}) },
      },
    });
    expect(res.status).toBe(201);
    return (res.json() as { status: ReviewStatus }).status;
  }

  it('bootstrap tokens: the API audience only, system:bootstrap:<id>, until the Secret goes or it expires', async () => {
    const token = api.addBootstrapToken({
      id: 'abcdef',
      secret: '0123456789abcdef',
      extraGroups: ['system:bootstrappers:kubeadm:default-node-token'],
      expiresAt: now / 1000 + 60,
    });
    expect(token).toBe('abcdef.0123456789abcdef');
    expect(await review(token)).toEqual({
      authenticated: true,
      user: {
        username: 'system:bootstrap:abcdef',
        groups: [
          'system:bootstrappers',
          'system:bootstrappers:kubeadm:default-node-token',
          'system:authenticated',
        ],
      },
      audiences: [api.issuer],
    });
    expect(await review(token, ['https://webhook.example'])).toEqual({
      user: {},
      error: 'invalid bearer token',
    });
    expect(await review('abcdef.ffffffffffffffff')).toEqual({ user: {}, error: 'invalid bearer token' });
    now += 61_000;
    expect((await review(token)).error).toBe('invalid bearer token');
    const other = api.addBootstrapToken();
    expect(other).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect((await review(other)).authenticated).toBe(true);
    api.deleteObject('Secret', 'kube-system', `bootstrap-token-${other.split('.')[0]}`);
    expect((await review(other)).error).toBe('invalid bearer token');
    expect(() => api.addBootstrapToken({ id: 'ABCDEF' })).toThrow(/id/);
    expect(() => api.addBootstrapToken({ extraGroups: ['system:masters'] })).toThrow(/extraGroups/);
  });

  it('webhook tokens (KEP-6060) review with the webhook configuration and attestation extras', async () => {
    const audience = 'https://my-webhook.my-ns.svc:443/validate';
    const token = await api.mintWebhookToken({
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      audience,
      apiGroups: ['apps'],
      jti: false,
    });
    const uid = api.getObject('ValidatingWebhookConfiguration', '', 'my-webhook')!.uid;
    const status = await review(token, [audience]);
    expect(status).toEqual({
      authenticated: true,
      user: {
        username: 'system:serviceaccount:kube-system:webhook-auth',
        uid: api.getObject('ServiceAccount', 'kube-system', 'webhook-auth')!.uid,
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
        extra: {
          'attestation.authentication.kubernetes.io/admissionReviewAPIGroups': ['apps'],
          'authentication.kubernetes.io/validatingwebhookconfiguration-name': ['my-webhook'],
          'authentication.kubernetes.io/validatingwebhookconfiguration-uid': [uid],
        },
      },
      audiences: [audience],
    });
    // Re-created configuration: UID mismatch; deleted: invalidated.
    const recreated = api.createObject('ValidatingWebhookConfiguration', '', 'my-webhook').uid;
    expect((await review(token, [audience])).error).toBe(
      `[invalid bearer token, validatingwebhookconfiguration UID (${recreated}) does not match service account validatingwebhookconfiguration ref claim (${uid})]`,
    );
    api.deleteObject('ValidatingWebhookConfiguration', '', 'my-webhook');
    expect(await review(token, [audience])).toEqual({
      user: {},
      error: '[invalid bearer token, service account token has been invalidated]',
    });
  });

  it('mutating webhook tokens carry their own extras', async () => {
    const token = await api.mintWebhookToken({
      webhook: { kind: 'MutatingWebhookConfiguration', name: 'mutator' },
      audience: 'https://hooks.example/mutate',
    });
    const { user } = await review(token, ['https://hooks.example/mutate']);
    expect(Object.keys(user.extra ?? {})).toEqual([
      'attestation.authentication.kubernetes.io/admissionReviewAPIGroups',
      'authentication.kubernetes.io/credential-id',
      'authentication.kubernetes.io/mutatingwebhookconfiguration-name',
      'authentication.kubernetes.io/mutatingwebhookconfiguration-uid',
    ]);
    expect(user.extra?.['attestation.authentication.kubernetes.io/admissionReviewAPIGroups']).toEqual(['*']);
  });

  it('1.29/1.30 claims: credential-id from jti, node extras for pod-bound tokens, node-bound tokens checked against the node', async () => {
    const token = await api.mintToken({
      audiences: ['a'],
      jti: 'abc-123',
      boundObject: { kind: 'Pod', name: 'web-0' },
      node: { name: 'worker-1' },
    });
    const nodeUid = api.getObject('Node', '', 'worker-1')!.uid;
    const podUid = api.getObject('Pod', 'default', 'web-0')!.uid;
    expect((await review(token, ['a'])).user.extra).toEqual({
      'authentication.kubernetes.io/credential-id': ['JTI=abc-123'],
      'authentication.kubernetes.io/node-name': ['worker-1'],
      'authentication.kubernetes.io/node-uid': [nodeUid],
      'authentication.kubernetes.io/pod-name': ['web-0'],
      'authentication.kubernetes.io/pod-uid': [podUid],
    });
    // The node of a pod-bound token is informational: deleting it does not revoke the token.
    api.deleteObject('Node', '', 'worker-1');
    expect((await review(token, ['a'])).authenticated).toBe(true);

    const nodeBound = await api.mintToken({
      audiences: ['a'],
      boundObject: { kind: 'Node', name: 'worker-2' },
      jti: false,
    });
    expect((await review(nodeBound, ['a'])).user.extra).toEqual({
      'authentication.kubernetes.io/node-name': ['worker-2'],
      'authentication.kubernetes.io/node-uid': [api.getObject('Node', '', 'worker-2')!.uid],
    });
    api.deleteObject('Node', '', 'worker-2');
    expect((await review(nodeBound, ['a'])).error).toBe(
      '[invalid bearer token, service account token has been invalidated]',
    );
  });

  it('with the cache switched off, deletions take effect at once', async () => {
    const token = await api.mintToken({ namespace: 'demo', serviceAccount: 'short-lived', audiences: ['a'] });
    expect((await review(token, ['a'])).authenticated).toBe(true);
    api.deleteObject('ServiceAccount', 'demo', 'short-lived');
    expect((await review(token, ['a'])).error).toBe(
      '[invalid bearer token, serviceaccounts "short-lived" not found]',
    );
  });

  it('a pending (graceful) deletion keeps tokens valid for one leeway after the deletion timestamp', async () => {
    const token = await api.mintToken({
      audiences: ['a'],
      boundObject: { kind: 'Pod', name: 'terminating' },
    });
    api.deleteObject('Pod', 'default', 'terminating', { pending: true });
    expect(api.getObject('Pod', 'default', 'terminating')?.deletionTimestamp).toBe(now);
    expect((await review(token, ['a'])).authenticated).toBe(true);
    now += 61_000;
    expect((await review(token, ['a'])).error).toBe(
      '[invalid bearer token, service account token has been invalidated]',
    );
  });

  it('the 10 s success cache is on by default, keyed by token and audiences, and expires', async () => {
    let clock = Date.parse('2026-11-23T12:00:00Z');
    await using cached = await startTestApiserver({ now: () => clock });
    const token = await cached.mintToken({ audiences: ['a'] });
    expect(cached.reviewToken(token, ['a']).ok).toBe(true);
    const viaHttp = async () =>
      (
        (
          await call(cached, '/apis/authentication.k8s.io/v1/tokenreviews', {
            token: cached.reviewer.token,
            body: { spec: { token, audiences: ['a'] } },
          })
        ).json() as { status: ReviewStatus }
      ).status;
    expect((await viaHttp()).authenticated).toBe(true);
    cached.deleteObject('ServiceAccount', 'default', 'default');
    clock += 9_000;
    expect((await viaHttp()).authenticated).toBe(true);
    // Another audience list is another cache entry: the deletion shows at once (recorded case 31a).
    expect(cached.reviewToken(token, ['a', 'b'])).toMatchObject({ ok: false });
    clock += 2_000;
    expect((await viaHttp()).error).toBe('[invalid bearer token, serviceaccounts "default" not found]');
  });

  it('audience semantics: intersection in token order; an empty apiAudiences list disables the check', async () => {
    const token = await api.mintToken({ audiences: ['b', 'a', 'c'] });
    expect((await review(token, ['c', 'a', 'z'])).audiences).toEqual(['a', 'c']);
    expect((await review(token, ['x', 'y'])).error).toBe(
      '[invalid bearer token, token audiences ["b" "a" "c"] is invalid for the target audiences ["x" "y"]]',
    );
    await using open = await startTestApiserver({ apiAudiences: [] });
    const any = await open.mintToken({ audiences: ['x'] });
    expect(open.reviewToken(any, ['y'])).toMatchObject({ ok: true, audiences: [] });
  });

  it('time checks use the configured leeway and the kit clock', async () => {
    const iat = Math.floor(now / 1000);
    const expired = await api.mintToken({ audiences: ['a'], issuedAt: iat - 700, expiresIn: 600 });
    expect((await review(expired, ['a'])).error).toBe(
      '[invalid bearer token, service account token has expired]',
    );
    const barely = await api.mintToken({ audiences: ['a'], issuedAt: iat - 650, expiresIn: 600 });
    expect((await review(barely, ['a'])).authenticated).toBe(true);
    await using strict = await startTestApiserver({ now: () => now, leewaySeconds: 0 });
    expect(
      strict.reviewToken(await strict.mintToken({ audiences: ['a'], issuedAt: iat - 650, expiresIn: 600 }), [
        'a',
      ]),
    ).toEqual({
      ok: false,
      error: '[invalid bearer token, service account token has expired]',
    });
  });

  it('accepts further issuers only when configured, and tokens of unknown algorithms fail like go-jose', async () => {
    await using multi = await startTestApiserver({ acceptedIssuers: ['https://old-issuer.example'] });
    await using v128 = await startTestApiserver({ kubernetesVersion: '1.28' });
    const old = await multi.mintToken({ issuer: 'https://old-issuer.example', audiences: ['a'] });
    expect(multi.reviewToken(old, ['a']).ok).toBe(true);
    expect(
      api.reviewToken(await api.mintToken({ issuer: 'https://old-issuer.example', audiences: ['a'] }), ['a']),
    ).toEqual({
      ok: false,
      error: 'invalid bearer token',
    });
    const es = await api.mintToken({ alg: 'ES384', audiences: ['a'] });
    expect(api.reviewToken(es, ['a']).ok).toBe(true);
    const hs = await api.mintToken({ audiences: ['a'], header: { alg: 'HS256' } });
    expect(api.reviewToken(hs, ['a'])).toEqual({
      ok: false,
      error: '[invalid bearer token, go-jose/go-jose: error in cryptographic primitive]',
    });
    const hs128 = await v128.mintToken({ audiences: ['a'], header: { alg: 'HS256' } });
    expect((v128.reviewToken(hs128, ['a']) as { error: string }).error).toContain(
      'square/go-jose: unknown/unsupported algorithm',
    );
  });

  it('faults on tokenreviews: 429 with Retry-After, 5xx, reset, latency; calls are counted', async () => {
    api.resetCalls();
    const token = await api.mintToken({ audiences: ['a'] });
    const send = () =>
      call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
        token: api.reviewer.token,
        body: { spec: { token, audiences: ['a'] } },
      });
    api.setFault('tokenreviews', { status: 429, retryAfter: 1, times: 1 });
    const limited = await send();
    expect([limited.status, limited.headers['retry-after']]).toEqual([429, '1']);
    expect((await send()).status).toBe(201);
    api.setFault('tokenreviews', { status: 503 });
    expect((await send()).status).toBe(503);
    api.setFault('tokenreviews', { reset: true });
    await expect(send()).rejects.toThrow();
    api.setFault('tokenreviews', { malformed: true });
    const malformed = await send();
    expect(malformed.status).toBe(201);
    expect(() => malformed.json()).toThrow(SyntaxError);
    api.clearFaults();
    expect(api.calls('tokenreviews')).toBe(5);
    const recorded = api.requests('tokenreviews');
    expect(recorded[1]).toMatchObject({
      method: 'POST',
      status: 201,
      user: 'system:serviceaccount:kube-system:apiserver-token-reviewer',
      body: { spec: { audiences: ['a'] } },
    });
  });
});
