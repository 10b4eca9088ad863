import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApiserverTokenVerifier,
  createVerifier,
  isApiserverTokenError,
  type VerifierOptions,
} from '../src/index.js';
import { type Fault, type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, signJwt, type TestKey } from './helpers/keys.js';
import { until } from './helpers/until.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const servers: JwksServer[] = [];
const verifiers: ApiserverTokenVerifier[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function setup(
  keys: TestKey[],
  options: Partial<VerifierOptions> = {},
  cacheControl = 'public, max-age=3600',
) {
  const api = await startJwksServer({ jwks: jwksOf(...keys), cacheControl });
  servers.push(api);
  const clock = { ms: Date.now() };
  const v = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    env: {},
    now: () => clock.ms,
    ...options,
    jwks: { ca: api.ca, ...options.jwks },
  });
  verifiers.push(v);
  let serial = 0;
  // Distinct tokens (jti) so that nothing is answered from the result cache.
  const mint = (key: TestKey, kid = key.kid) =>
    signJwt(
      key,
      kubeClaims({
        issuer: api.issuer,
        audiences: [AUDIENCE],
        nowSeconds: Math.floor(clock.ms / 1000),
        extra: { jti: `t${serial++}` },
      }),
      { kid },
    );
  return { api, v, clock, mint };
}

describe('key rotation', () => {
  it('keeps every genuine request working while the issuer rotates its key mid-traffic', async () => {
    const oldKey = makeKey('RS256');
    const newKey = makeKey('ES256');
    const { api, v, mint } = await setup([oldKey]);
    await v.ready();
    let signer = oldKey;
    const failures: unknown[] = [];
    let accepted = 0;
    const traffic = async (n: number) => {
      await Promise.all(
        Array.from({ length: n }, () =>
          v.verifyToken(mint(signer)).then(
            () => void accepted++,
            (error: unknown) => void failures.push(error),
          ),
        ),
      );
    };
    await traffic(50);
    api.jwks = jwksOf(oldKey, newKey); // the issuer publishes the new key and signs with it at once
    signer = newKey;
    await traffic(100);
    api.jwks = jwksOf(newKey); // and later drops the old one
    await traffic(50);
    expect(failures).toEqual([]);
    expect(accepted).toBe(200);
    expect(api.counts.jwks).toBe(2); // the initial fetch and one coalesced refetch for the new kid
  });

  it('bounds refetches under a flood of unknown kids (cooldown)', async () => {
    const key = makeKey('RS256');
    const forger = makeKey('RS256');
    const { api, v, clock, mint } = await setup([key], { jwks: { cooldown: 30 } });
    await v.ready();
    const flood = () =>
      Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          v.verifyToken(mint(forger, `forged-${i}-${clock.ms}`)).then(
            () => 'accepted',
            (error: unknown) => (isApiserverTokenError(error) ? error.code : 'other'),
          ),
        ),
      );
    const first = await flood();
    expect(new Set(first)).toEqual(new Set(['unknown_key'])); // no key of another kid is tried
    expect(api.counts.jwks).toBe(2); // initial + one refetch
    clock.ms += 10_000;
    await flood();
    expect(api.counts.jwks).toBe(2); // still cooling down
    clock.ms += 25_000;
    await flood();
    expect(api.counts.jwks).toBe(3); // one more after the cooldown
    await expect(v.verifyToken(mint(key))).resolves.toBeDefined();
  });
});

describe('issuer outages', () => {
  const outages: Array<[string, Fault]> = [
    ['connection reset', { kind: 'reset' }],
    ['HTTP 500', { kind: 'status', status: 500 }],
    ['HTTP 429 with Retry-After', { kind: 'status', status: 429, retryAfter: '42' }],
    ['garbage JSON', { kind: 'garbage' }],
    ['HTML instead of JSON', { kind: 'html' }],
    ['no answer (timeout)', { kind: 'hang' }],
  ];
  for (const [name, fault] of outages) {
    it(`${name}: held keys serve until maxStale, then 503 issuer_unavailable, never an accept`, async () => {
      const key = makeKey('RS256');
      const forger = makeKey('RS256');
      const { api, v, clock, mint } = await setup([key], { jwks: { maxStale: 600, timeout: 200 } });
      await v.ready();
      api.fault = fault;
      clock.ms += 3_600_000 + 1000; // keys stale, within maxStale
      await expect(v.verifyToken(mint(key))).resolves.toBeDefined();
      await expect(v.verifyToken(mint(forger, key.kid))).rejects.toMatchObject({ code: 'invalid_signature' });
      await until(() => api.counts.jwks >= 2); // the background refresh was tried and failed
      clock.ms += 600_000; // past maxStale
      const error = await v.verifyToken(mint(key)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'issuer_unavailable', status: 503 });
      expect((error as { retryAfter: number }).retryAfter).toBeGreaterThanOrEqual(1);
      expect((error as { headers: Record<string, string> }).headers['retry-after']).toMatch(/^\d+$/);
      if (fault.kind === 'status' && fault.retryAfter !== undefined) {
        expect((error as { retryAfter: number }).retryAfter).toBe(42);
      }
      await expect(v.verifyToken(mint(forger, key.kid))).rejects.toMatchObject({ status: 503 });
      // The issuer comes back: after the backoff the next request loads fresh keys.
      api.fault = { kind: 'none' };
      clock.ms += 60_000;
      await expect(v.verifyToken(mint(key))).resolves.toBeDefined();
    });
  }

  it('does not hammer a down issuer: failed fetches back off', async () => {
    const key = makeKey('RS256');
    const { api, v, clock, mint } = await setup([key]);
    api.fault = { kind: 'status', status: 503 };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => v.verifyToken(mint(key)).catch((e: { code: string }) => e.code)),
    );
    expect(new Set(results)).toEqual(new Set(['issuer_unavailable']));
    expect(api.counts.total).toBe(1);
    for (let i = 0; i < 50; i++) await v.verifyToken(mint(key)).catch(() => {});
    expect(api.counts.total).toBe(1);
    clock.ms += 1500;
    await v.verifyToken(mint(key)).catch(() => {});
    expect(api.counts.total).toBe(2);
  });

  it("honours the issuer's Retry-After before fetching again", async () => {
    const key = makeKey('RS256');
    const { api, v, clock, mint } = await setup([key]);
    api.fault = { kind: 'status', status: 429, retryAfter: '30' };
    await expect(v.verifyToken(mint(key))).rejects.toMatchObject({
      code: 'issuer_unavailable',
      retryAfter: 30,
    });
    clock.ms += 20_000;
    await expect(v.verifyToken(mint(key))).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(api.counts.total).toBe(1);
    api.fault = { kind: 'none' };
    clock.ms += 11_000;
    await expect(v.verifyToken(mint(key))).resolves.toBeDefined();
    expect(api.counts.total).toBe(3);
  });
});
