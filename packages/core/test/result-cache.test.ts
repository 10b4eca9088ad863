import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApiserverTokenVerifier,
  createVerifier,
  tokenFingerprint,
  type VerifierOptions,
} from '../src/index.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';
import { recordingLogger } from './helpers/logger.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const key = makeKey('ES256');
const VERIFIED = 'token verified';

const verifiers: ApiserverTokenVerifier[] = [];
const servers: JwksServer[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function setup(options: Partial<VerifierOptions> = {}) {
  const clock = { ms: 1_795_451_640_000 };
  const logger = recordingLogger();
  const v = createVerifier({
    audience: AUDIENCE,
    issuer: ISSUER,
    jwks: { keys: jwksOf(key) as never },
    env: {},
    now: () => clock.ms,
    logger,
    ...options,
  });
  verifiers.push(v);
  const mint = (lifetime = 600, jti?: string) =>
    signJwt(
      key,
      kubeClaims({
        issuer: ISSUER,
        audiences: [AUDIENCE],
        nowSeconds: clock.ms / 1000,
        lifetime,
        ...(jti && { extra: { jti } }),
      }),
    );
  return { v, clock, logger, mint };
}

describe('verified-result cache', () => {
  it('answers a repeated token from the cache with the same frozen identity', async () => {
    const { v, logger, mint } = setup();
    const token = mint();
    const first = await v.verifyToken(token);
    const second = await v.verify({ headers: { authorization: `Bearer ${token}` } });
    expect(second).toBe(first);
    expect(logger.count(VERIFIED)).toBe(1);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.groups)).toBe(true);
    expect(first.tokenFingerprint).toBe(tokenFingerprint(token));
  });

  it('never keeps an entry past the configured ttl', async () => {
    const { v, clock, logger, mint } = setup({ cache: { ttl: 10 } });
    const token = mint(3600);
    await v.verifyToken(token);
    clock.ms += 9_000;
    await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(1);
    clock.ms += 2_000;
    await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(2);
  });

  it('caps the ttl by the token exp, then rejects once exp + leeway is past', async () => {
    const { v, clock, logger, mint } = setup({ cache: { ttl: 300 } });
    const token = mint(30);
    await v.verifyToken(token);
    clock.ms += 29_000;
    await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(1);
    clock.ms += 2_000; // past exp, within the 60 s leeway: verified again, still valid
    await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(2);
    clock.ms += 60_000;
    await expect(v.verifyToken(token)).rejects.toMatchObject({ code: 'expired' });
  });

  it('keys entries by audience set: another verifier never shares them', async () => {
    const { v, mint } = setup();
    const token = mint();
    await v.verifyToken(token);
    const other = createVerifier({
      audience: 'https://other.example',
      issuer: ISSUER,
      jwks: { keys: jwksOf(key) as never },
      env: {},
    });
    verifiers.push(other);
    await expect(other.verifyToken(token)).rejects.toMatchObject({ code: 'audience_mismatch' });
  });

  it('does not cache failures by default, and caches 401s for failureTtl when asked', async () => {
    const api = await startJwksServer({ jwks: jwksOf(key) });
    servers.push(api);
    const forger = makeKey('ES256');
    const forged = signJwt(
      forger,
      kubeClaims({ issuer: api.issuer, audiences: [AUDIENCE], nowSeconds: Date.now() / 1000 }),
    );
    const plain = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca, cooldown: 0 },
      env: {},
    });
    verifiers.push(plain);
    await plain.ready();
    await expect(plain.verifyToken(forged)).rejects.toMatchObject({ code: 'unknown_key' });
    await expect(plain.verifyToken(forged)).rejects.toMatchObject({ code: 'unknown_key' });
    expect(api.counts.jwks).toBe(3); // each attempt looked for the unknown kid again

    const caching = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca, cooldown: 0 },
      cache: { failureTtl: 60 },
      env: {},
    });
    verifiers.push(caching);
    await caching.ready();
    const before = api.counts.jwks;
    await expect(caching.verifyToken(forged)).rejects.toMatchObject({ code: 'unknown_key' });
    await expect(caching.verifyToken(forged)).rejects.toMatchObject({ code: 'unknown_key' });
    expect(api.counts.jwks).toBe(before + 1);
  });

  it('coalesces concurrent verifications of one new token: one fetch, one signature check', async () => {
    const api = await startJwksServer({ jwks: jwksOf(key) });
    servers.push(api);
    const logger = recordingLogger();
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      env: {},
      logger,
    });
    verifiers.push(v);
    const token = signJwt(
      key,
      kubeClaims({ issuer: api.issuer, audiences: [AUDIENCE], nowSeconds: Date.now() / 1000 }),
    );
    const identities = await Promise.all(Array.from({ length: 50 }, () => v.verifyToken(token)));
    expect(new Set(identities).size).toBe(1);
    expect(logger.count(VERIFIED)).toBe(1);
    expect(api.counts).toMatchObject({ discovery: 1, jwks: 1 });
  });

  it('checks one signature for concurrent calls with one new token once the keys are held', async () => {
    const { v, logger, mint } = setup();
    await v.ready();
    const token = mint();
    const identities = await Promise.all(Array.from({ length: 50 }, () => v.verifyToken(token)));
    expect(new Set(identities).size).toBe(1);
    expect(logger.count(VERIFIED)).toBe(1);
  });

  it('stays bounded under a flood of distinct valid tokens (least recently used evicted)', async () => {
    const { v, logger, mint } = setup({ cache: { max: 100 } });
    const tokens = Array.from({ length: 300 }, (_, i) => mint(600, `flood-${i}`));
    for (const token of tokens) await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(300);
    for (const token of tokens.slice(200)) await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(300); // the last 100 are held
    for (const token of tokens.slice(0, 100)) await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(400); // the first 100 were evicted
  });

  it('stays bounded under a flood of random well-formed forged tokens with failure caching on', async () => {
    const forger = makeKey('ES256');
    const { v, mint } = setup({ cache: { max: 50, failureTtl: 60 } });
    const genuine = mint();
    await v.verifyToken(genuine);
    for (let i = 0; i < 500; i++) {
      const forged = signJwt(
        forger,
        kubeClaims({
          issuer: ISSUER,
          audiences: [AUDIENCE],
          nowSeconds: 1_795_451_640,
          extra: { jti: `r${i}` },
        }),
        {
          kid: key.kid,
        },
      );
      await expect(v.verifyToken(forged)).rejects.toMatchObject({ code: 'invalid_signature' });
    }
    // The genuine entry was pushed out by the flood; verifying it again still works.
    await expect(v.verifyToken(genuine)).resolves.toBeDefined();
  });

  it('can be disabled (max 0): every request verifies', async () => {
    const { v, logger, mint } = setup({ cache: { max: 0 } });
    const token = mint();
    await v.verifyToken(token);
    await v.verifyToken(token);
    expect(logger.count(VERIFIED)).toBe(2);
  });
});

describe('logger', () => {
  it('receives the precise reason and the fingerprint of each rejection, never the token', async () => {
    const { v, logger, mint } = setup({ cache: { failureTtl: 5 } });
    const forger = makeKey('ES256');
    const tokens = [
      mint(),
      signJwt(forger, kubeClaims({ issuer: ISSUER, audiences: [AUDIENCE], nowSeconds: 1_795_451_640 }), {
        kid: key.kid,
      }),
      signJwt(
        key,
        kubeClaims({ issuer: ISSUER, audiences: ['https://other.example'], nowSeconds: 1_795_451_640 }),
      ),
      signJwt(key, kubeClaims({ issuer: ISSUER, audiences: [AUDIENCE], nowSeconds: 1_795_451_640 - 7200 })),
    ];
    const outcomes = [];
    for (const token of [...tokens, ...tokens]) {
      outcomes.push(
        await v.verify({ headers: { authorization: `Bearer ${token}` } }).catch((error: Error) => error),
      );
    }
    await v.verify({ headers: { authorization: 'Basic abc' } }).catch(() => {});
    const rejections = logger.calls.filter((call) => call.message.includes('rejected'));
    expect(rejections.map((call) => call.object.code)).toEqual([
      'invalid_signature',
      'audience_mismatch',
      'expired',
      'invalid_signature',
      'audience_mismatch',
      'expired',
      'malformed_authorization',
    ]);
    expect(rejections[0]?.object).toMatchObject({
      fingerprint: tokenFingerprint(tokens[1] as string),
      status: 401,
    });
    expect(String(rejections[2]?.object.reason)).toMatch(
      /expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, (\d+[dhm])*\d+s ago/,
    );
    // The caller only ever sees the generic description.
    const error = outcomes[1] as unknown as { description: string; toJSON(): unknown; message: string };
    expect(error.description).toBe('the bearer token is missing or invalid');
    expect(error.toJSON()).toEqual({
      error: 'invalid_signature',
      error_description: 'the bearer token is missing or invalid',
    });
    expect(JSON.stringify(error.toJSON())).not.toContain(error.message);
    const logged = JSON.stringify(logger.calls);
    for (const token of tokens) {
      expect(logged).not.toContain(token);
      for (const part of token.split('.')) expect(logged).not.toContain(part);
    }
  });

  it('a throwing logger never turns a verdict into an exception of its own', async () => {
    const explode = () => {
      throw new Error('logger down');
    };
    const { v, mint } = setup({ logger: { debug: explode, info: explode, warn: explode, error: explode } });
    await expect(v.verifyToken(mint())).resolves.toBeDefined();
    await expect(v.verifyToken('a.b.c')).rejects.toMatchObject({ code: 'malformed_token' });
  });
});
