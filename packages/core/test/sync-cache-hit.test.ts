import { afterEach, describe, expect, it } from 'vitest';
import type { ApiserverTokenVerifier, RequestLike } from '../src/contracts/verifier.js';
import { createHttpAuthenticator } from '../src/http/http-authenticator.js';
import type { VerifierOptions } from '../src/options.js';
import { createVerifier } from '../src/verifier/create-verifier.js';
import { ResultCache } from '../src/verifier/result-cache.js';
import { VERIFY_NOW, type VerifyNow } from '../src/verifier/verify-now.js';
import { startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const key = makeKey('RS256');

function options(extra: Partial<VerifierOptions> = {}): VerifierOptions {
  return {
    audience: AUDIENCE,
    issuer: ISSUER,
    jwks: { keys: jwksOf(key) as never },
    inCluster: false,
    env: {},
    ...extra,
  };
}

function mint(namespace = 'kube-system', name = 'webhook-auth'): string {
  return signJwt(
    key,
    kubeClaims({
      issuer: ISSUER,
      audiences: [AUDIENCE],
      nowSeconds: Date.now() / 1000,
      lifetime: 600,
      namespace,
      name,
    }),
  );
}

const request = (token: string, extra: Partial<RequestLike> = {}): RequestLike => ({
  headers: { authorization: `Bearer ${token}` },
  ...extra,
});

const verifiers: ApiserverTokenVerifier[] = [];

/** The outcome itself, failing the test when it came as a Promise (i.e. not from the cache). */
function synchronous<T>(value: T | Promise<T>): T {
  if (value instanceof Promise) throw new Error('expected a synchronous outcome, got a Promise');
  return value;
}
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
});

function authenticator(extra: Parameters<typeof createHttpAuthenticator>[0] = {}) {
  const auth = createHttpAuthenticator({ ...options(), ...extra });
  verifiers.push(auth.verifier);
  return auth;
}

describe('synchronous cache-hit path', () => {
  it('answers a cached identity with a value, the same outcome authenticate() resolves to', async () => {
    const auth = authenticator({ policy: { serviceAccounts: ['kube-system:webhook-auth'] } });
    const token = mint();
    await auth.verifier.ready();
    // A miss with the keys held is decided synchronously too: the signature check needs no wait.
    const verified = synchronous(auth.authenticateNow(request(token), undefined));
    expect(verified.ok).toBe(true);
    const now = synchronous(auth.authenticateNow(request(token), undefined));
    expect(now).toEqual(await auth.authenticate(request(token), undefined));
    expect(now.ok && verified.ok && now.identity).toBe(verified.ok && verified.identity);
  });

  it('verifies a miss asynchronously while the keys are still to be fetched, then synchronously', async () => {
    const api = await startJwksServer({ jwks: jwksOf(key) });
    try {
      const auth = authenticator({ issuer: api.issuer, jwks: { ca: api.ca } });
      const claims = (name: string) =>
        kubeClaims({ issuer: api.issuer, audiences: [AUDIENCE], nowSeconds: Date.now() / 1000, name });
      const first = auth.authenticateNow(request(signJwt(key, claims('webhook-auth'))), undefined);
      expect(first).toBeInstanceOf(Promise); // waits for discovery and the JWKS
      expect((await first).ok).toBe(true);
      const second = synchronous(auth.authenticateNow(request(signJwt(key, claims('other'))), undefined));
      expect(second.ok && second.identity.serviceAccount?.name).toBe('other');
      // A forged token under the known kid fails on its signature, with no fetch.
      const forged = signJwt(makeKey('RS256'), claims('forged'), { kid: key.kid });
      const refused = await auth.authenticateNow(request(forged), undefined);
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect((refused.error as { code?: string }).code).toBe('invalid_signature');
      expect(api.counts).toMatchObject({ discovery: 1, jwks: 1 });
    } finally {
      await api.close();
    }
  });

  it('refuses a cached identity the allow-list denies, exactly as the async path does', async () => {
    const denying = authenticator({ policy: { serviceAccounts: ['other-ns:*'] } });
    const token = mint();
    // The first request caches the identity; the policy refuses it on every request.
    const first = await denying.authenticate(request(token), undefined);
    expect(first.ok).toBe(false);
    const now = await denying.authenticateNow(request(token), undefined);
    const later = await denying.authenticate(request(token), undefined);
    for (const outcome of [first, now, later]) {
      expect(outcome.ok).toBe(false);
      if (outcome.ok) continue;
      expect(outcome.response.status).toBe(403);
      expect((outcome.error as { code?: string }).code).toBe('forbidden');
    }
    expect(now).toEqual(later);
  });

  it('refuses several Authorization headers on a cached token (rawHeaders)', async () => {
    const auth = authenticator();
    const token = mint();
    expect((await auth.authenticate(request(token), undefined)).ok).toBe(true);
    const duplicated = request(token, {
      rawHeaders: ['Authorization', `Bearer ${token}`, 'authorization', 'Bearer other'],
    });
    const now = await auth.authenticateNow(duplicated, undefined);
    const later = await auth.authenticate(duplicated, undefined);
    for (const outcome of [now, later]) {
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect((outcome.error as { code?: string }).code).toBe('malformed_authorization');
    }
    // Several values in `headers` (a hand-made headers object) are refused too.
    const listed = await auth.authenticateNow(
      { headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } },
      undefined,
    );
    expect(listed.ok).toBe(false);
  });

  it('stays asynchronous with an async predicate or onVerified, with the same verdicts', async () => {
    const calls: string[] = [];
    const auth = authenticator({
      policy: { allow: async (identity) => identity.serviceAccount?.name === 'webhook-auth' },
      onVerified: async (identity) => {
        calls.push(identity.username);
      },
    });
    const token = mint();
    expect((await auth.authenticate(request(token), undefined)).ok).toBe(true);
    const now = auth.authenticateNow(request(token), undefined);
    expect(now).toBeInstanceOf(Promise);
    expect((await now).ok).toBe(true);
    expect(calls).toHaveLength(2);

    const other = mint('kube-system', 'intruder');
    expect((await auth.authenticate(request(other), undefined)).ok).toBe(false);
    const denied = await auth.authenticateNow(request(other), undefined);
    expect(denied.ok).toBe(false);
    if (!denied.ok) expect(denied.response.status).toBe(403);
  });

  it('turns a throwing synchronous onVerified into a rejection outcome', async () => {
    const rejected: unknown[] = [];
    const auth = authenticator({
      onVerified: () => {
        throw new Error('observer refused');
      },
      onRejected: (error) => {
        rejected.push(error);
      },
    });
    const token = mint();
    const first = await auth.authenticate(request(token), undefined);
    const now = synchronous(auth.authenticateNow(request(token), undefined));
    expect(now).toEqual(first);
    expect(now.ok).toBe(false);
    expect(rejected).toHaveLength(2);
  });

  it('keeps verify() a promise on a cache hit', async () => {
    const v = createVerifier(options());
    verifiers.push(v);
    const token = mint();
    const identity = await v.verify(request(token));
    const again = v.verify(request(token));
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toBe(identity);
    const verifyNow = (v as unknown as Record<symbol, VerifyNow>)[VERIFY_NOW] as VerifyNow;
    expect(verifyNow(request(token))).toBe(identity);
  });
});

describe('cache keys', () => {
  const settings = (audiences: string[]) => ({
    max: 10,
    ttlMs: 1000,
    failureTtlMs: 0,
    audiences,
    now: () => 0,
  });

  it('are keyed hashes bound to the audiences, never the token', () => {
    const token = mint();
    const a = new ResultCache(settings([AUDIENCE, 'https://b']));
    const sameAudiences = new ResultCache(settings(['https://b', AUDIENCE]));
    const other = new ResultCache(settings([AUDIENCE]));
    const k = a.keyOf(token);
    expect(k).toBe(a.keyOf(token));
    expect(k).toBe(sameAudiences.keyOf(token));
    expect(k).not.toBe(other.keyOf(token));
    expect(k).not.toBe(a.keyOf(`${token}x`));
    expect(k).not.toContain(token.slice(0, 16));
    expect(k).toHaveLength(44); // base64 of 32 bytes
  });
});
