import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createVerifier, type JsonWebKeySet } from '../src/index.js';
import { jwksOf, kubeClaims, makeKey, signJwt, type TestKey } from './helpers/keys.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const NOW = 1_795_451_640;
const ISSUERS = ['https://kubernetes.default.svc.cluster.local', 'https://kubernetes.default.svc'];

describe('algorithms', () => {
  const keys: TestKey[] = [
    makeKey('RS256'),
    makeKey('ES256'),
    makeKey('ES384'),
    makeKey('ES512'),
    makeKey('PS256'),
  ];
  const jwks = jwksOf(...keys) as unknown as JsonWebKeySet;
  const token = (key: TestKey, issuer = ISSUERS[0] as string) =>
    signJwt(key, kubeClaims({ issuer, audiences: [AUDIENCE], nowSeconds: NOW }));

  it('accepts RS256, ES256, ES384 and ES512 by default and PS256 only when opted in', async () => {
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: ISSUERS,
      jwks: { keys: jwks },
      now: () => NOW * 1000,
      env: {},
    });
    for (const key of keys.slice(0, 4))
      await expect(v.verifyToken(token(key))).resolves.toMatchObject({ verifiedBy: 'jwks' });
    await expect(v.verifyToken(token(keys[4] as TestKey))).rejects.toMatchObject({
      code: 'algorithm_not_allowed',
    });
    const ps = createVerifier({
      audience: AUDIENCE,
      issuer: ISSUERS,
      jwks: { keys: jwks },
      algorithms: ['PS256'],
      now: () => NOW * 1000,
      env: {},
    });
    await expect(ps.verifyToken(token(keys[4] as TestKey))).resolves.toBeDefined();
    await expect(ps.verifyToken(token(keys[0] as TestKey))).rejects.toMatchObject({
      code: 'algorithm_not_allowed',
    });
  });

  it('shares one key set between several issuer names of one cluster', async () => {
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: ISSUERS,
      jwks: { keys: jwks },
      now: () => NOW * 1000,
      env: {},
    });
    for (const issuer of ISSUERS) {
      await expect(v.verifyToken(token(keys[0] as TestKey, issuer))).resolves.toMatchObject({ issuer });
    }
  });

  it('binds a key to the alg its JWK names', async () => {
    const key = makeKey('RS256');
    const pinned = { keys: [{ ...key.jwk, alg: 'RS512' }] } as unknown as JsonWebKeySet;
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: ISSUERS[0],
      jwks: { keys: pinned },
      now: () => NOW * 1000,
      env: {},
    });
    await expect(v.verifyToken(token(key))).rejects.toMatchObject({ code: 'invalid_signature' });
  });

  it('skips RSA keys shorter than 2048 bits and keys not meant for signatures', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const enc = { ...makeKey('ES256').jwk, use: 'enc' };
    expect(() =>
      createVerifier({
        audience: AUDIENCE,
        issuer: ISSUERS[0],
        jwks: { keys: { keys: [{ ...weak, kid: 'w' }, enc] } as never },
        env: {},
      }),
    ).toThrow(/RSA modulus of 1024 bits, outside 2048-8192.*use "enc" is not sig/);
  });
});
