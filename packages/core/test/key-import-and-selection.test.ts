import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiserverTokenVerifier, createVerifier, type JsonWebKey } from '../src/index.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { kubeClaims, makeKey, signJwt, type TestKey } from './helpers/keys.js';
import { recordingLogger } from './helpers/logger.js';
import { call, startVerifyingServer, type VerifyingServer } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An RSA JWK with the modulus of a real 2048-bit key and public exponent `e` (big-endian bytes). */
function rsaJwkWithExponent(e: Buffer, kid: string): Record<string, unknown> {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { n } = publicKey.export({ format: 'jwk' });
  return { kty: 'RSA', n, e: e.toString('base64url'), kid, alg: 'RS256', use: 'sig' };
}

/**
 * An RS256 "signature" under public exponent 1: s^1 mod n = s, so the PKCS#1 v1.5 encoded digest
 * itself verifies. Anyone can compute it; no private key is involved.
 */
function forgeWithExponentOne(signingInput: string): string {
  const digestInfo = Buffer.concat([
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    createHash('sha256').update(signingInput).digest(),
  ]);
  const padding = Buffer.alloc(256 - 3 - digestInfo.length, 0xff);
  return Buffer.concat([Buffer.from([0, 1]), padding, Buffer.from([0]), digestInfo]).toString('base64url');
}

let api: JwksServer;
let server: VerifyingServer;
let verifier: ApiserverTokenVerifier;
const logger = recordingLogger();
const genuine = makeKey('RS256');
const other = makeKey('RS256');
const weak = rsaJwkWithExponent(Buffer.from([1]), 'weak-e-1');

const claims = (): Record<string, unknown> =>
  kubeClaims({ issuer: api.issuer, audiences: [AUDIENCE], nowSeconds: Math.floor(Date.now() / 1000) });

beforeAll(async () => {
  api = await startJwksServer({ jwks: { keys: [weak, genuine.jwk, other.jwk] } });
  verifier = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    logger,
    env: {},
  });
  server = await startVerifyingServer(verifier);
});
afterAll(async () => {
  await server.close();
  await verifier.close();
  await api.close();
});

describe('a JWKS RSA key with public exponent 1 (anyone can sign)', () => {
  const forged = (header: Record<string, unknown>): string => {
    const input = `${b64({ alg: 'RS256', ...header })}.${b64(claims())}`;
    return `${input}.${forgeWithExponentOne(input)}`;
  };

  it('the forgery is real: node:crypto verifies it under that key', () => {
    const token = forged({ kid: 'weak-e-1' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const key = createPublicKey({ key: weak as import('node:crypto').JsonWebKey, format: 'jwk' });
    expect(verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))).toBe(true);
  });

  for (const [name, header] of [
    ["under that key's kid", { kid: 'weak-e-1' }],
    ['under no kid', {}],
    ["under another key's kid", { kid: genuine.kid }],
  ] as const) {
    it(`is refused at import, so a forgery ${name} gets 401`, async () => {
      const answer = await call(server.url, forged(header));
      expect(answer.status).toBe(401);
    });
  }

  it('is reported with a stable code, and the genuine keys still verify', async () => {
    expect((await call(server.url, signJwt(genuine, claims()))).status).toBe(200);
    const warning = logger.calls.find((entry) => entry.message.includes('keys were skipped'));
    expect(warning?.object.skipped).toEqual([
      { kid: 'weak-e-1', code: 'weak_rsa_exponent', message: expect.stringContaining('exponent 1') },
    ]);
  });
});

describe('weak or inconsistent JWKs are refused at import, each with its code', () => {
  const ec256 = makeKey('ES256');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  const offCurve = (): Record<string, unknown> => {
    const x = Buffer.from(ec256.jwk.x as string, 'base64url');
    x[7] = (x[7] as number) ^ 1;
    return { ...ec256.jwk, kid: 'off-curve', x: x.toString('base64url') };
  };
  // A 9216-bit modulus: odd, top bit set (createPublicKey does not test primality).
  const huge = randomBytes(1152);
  huge[0] = (huge[0] as number) | 0x80;
  huge[1151] = (huge[1151] as number) | 1;
  const table: Array<[string, Record<string, unknown>, string]> = [
    ['RSA e = 1', rsaJwkWithExponent(Buffer.from([1]), 'k'), 'weak_rsa_exponent'],
    ['RSA e = 2 (even)', rsaJwkWithExponent(Buffer.from([2]), 'k'), 'weak_rsa_exponent'],
    ['RSA e = 65538 (even)', rsaJwkWithExponent(Buffer.from([1, 0, 2]), 'k'), 'weak_rsa_exponent'],
    ['RSA e = 2^32 + 1', rsaJwkWithExponent(Buffer.from([1, 0, 0, 0, 1]), 'k'), 'weak_rsa_exponent'],
    ['RSA 1024-bit modulus', { ...small, kid: 'k' }, 'rsa_modulus_size'],
    [
      'RSA 9216-bit modulus',
      { kty: 'RSA', n: huge.toString('base64url'), e: 'AQAB', kid: 'k' },
      'rsa_modulus_size',
    ],
    ['EC point not on its curve', offCurve(), 'invalid_key'],
    ['alg RS256 on an EC key', { ...ec256.jwk, alg: 'RS256' }, 'alg_mismatch'],
    ['alg ES384 on a P-256 key', { ...ec256.jwk, alg: 'ES384' }, 'alg_mismatch'],
    ['alg ES256 on an RSA key', { ...rsa, kid: 'k', alg: 'ES256' }, 'alg_mismatch'],
    ['alg RSA-OAEP (encryption)', { ...rsa, kid: 'k', alg: 'RSA-OAEP' }, 'alg_mismatch'],
    ['use enc', { ...ec256.jwk, use: 'enc' }, 'use_not_sig'],
    ['key_ops without verify', { ...ec256.jwk, key_ops: ['encrypt'] }, 'key_ops_without_verify'],
  ];

  for (const [name, jwk, code] of table) {
    it(`${name} → ${code}`, async () => {
      const log = recordingLogger();
      const v = createVerifier({
        audience: AUDIENCE,
        issuer: 'https://static.example',
        jwks: { keys: { keys: [jwk, genuine.jwk] as unknown as JsonWebKey[] } },
        logger: log,
        env: {},
      });
      const warning = log.calls.find((entry) => entry.message.includes('keys were skipped'));
      const skipped = (warning?.object.skipped ?? []) as Array<{ code: string }>;
      expect(skipped.map((entry) => entry.code)).toEqual([code]);
      await v.close();
    });
  }

  it('an EC key published with the wrong alg cannot verify its own tokens', async () => {
    const fetched = await startJwksServer({ jwks: { keys: [{ ...ec256.jwk, alg: 'RS256' }, genuine.jwk] } });
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: fetched.issuer,
      jwks: { ca: fetched.ca },
      env: {},
    });
    const web = await startVerifyingServer(v);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const token = signJwt(ec256, kubeClaims({ issuer: fetched.issuer, audiences: [AUDIENCE], nowSeconds }));
    expect(await call(web.url, token)).toMatchObject({ status: 401, body: { error: 'unknown_key' } });
    await web.close();
    await v.close();
    await fetched.close();
  });

  it('without a logger, skipped keys are a process warning', async () => {
    const warnings: Error[] = [];
    const listen = (warning: Error): void => void warnings.push(warning);
    process.on('warning', listen);
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: 'https://static.example',
      jwks: { keys: { keys: [{ ...ec256.jwk, use: 'enc' }, genuine.jwk] as unknown as JsonWebKey[] } },
      env: {},
    });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', listen);
    expect(warnings.map((warning) => (warning as Error & { code?: string }).code)).toContain(
      'APISERVER_TOKEN_JWKS_KEY_SKIPPED',
    );
    expect(warnings.at(-1)?.message).toContain('use_not_sig');
    await v.close();
  });
});

describe('key selection as kube-apiserver 1.32+: the kid alone chooses', () => {
  it("a token signed by one key under another key's kid is refused", async () => {
    const answer = await call(server.url, signJwt(genuine, claims(), { kid: other.kid }));
    expect(answer.status).toBe(401);
  });

  it('a token signed by a held key under an unknown kid is refused (after one refetch)', async () => {
    const before = api.counts.jwks;
    const answer = await call(server.url, signJwt(genuine, claims(), { kid: 'not-a-held-kid' }));
    expect(answer.status).toBe(401);
    expect(api.counts.jwks).toBeLessThanOrEqual(before + 1);
  });

  it('a token without kid is tried against every key', async () => {
    const token = signJwt(other, claims(), { kid: undefined });
    expect(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString())).not.toHaveProperty(
      'kid',
    );
    expect((await call(server.url, token)).status).toBe(200);
  });
});

describe('non-canonical base64url (unused bits set in the last character)', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  /** Every other spelling of `part` that decodes to the same bytes. */
  const aliases = (part: string): string[] => {
    const unused = part.length % 4 === 2 ? 0x0f : part.length % 4 === 3 ? 0x03 : 0;
    const last = ALPHABET.indexOf(part.at(-1) as string);
    return Array.from({ length: unused }, (_, i) => i + 1).map(
      (bits) => part.slice(0, -1) + ALPHABET[(last & ~unused) | bits],
    );
  };
  const padTo = (value: Record<string, unknown>, remainder: number): Record<string, unknown> => {
    for (let pad = ''; ; pad += 'x') {
      const candidate = { ...value, pad };
      if (b64(candidate).length % 4 === remainder) return candidate;
    }
  };

  for (const key of [genuine, makeKey('ES256')] as TestKey[]) {
    it(`${key.alg}: all 15 aliases of a genuine signature are malformed_token`, async () => {
      const es = key.alg === 'ES256';
      const held = es ? await startJwksServer({ jwks: { keys: [key.jwk] } }) : api;
      const v = es
        ? createVerifier({ audience: AUDIENCE, issuer: held.issuer, jwks: { ca: held.ca }, env: {} })
        : verifier;
      const web = es ? await startVerifyingServer(v) : server;
      const nowSeconds = Math.floor(Date.now() / 1000);
      const token = signJwt(key, kubeClaims({ issuer: held.issuer, audiences: [AUDIENCE], nowSeconds }));
      const [h, p, s] = token.split('.') as [string, string, string];
      expect((await call(web.url, token)).status).toBe(200);
      const variants = aliases(s);
      expect(variants).toHaveLength(15);
      for (const variant of variants) {
        expect(Buffer.from(variant, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
        const answer = await call(web.url, `${h}.${p}.${variant}`);
        expect([answer.status, answer.headers['www-authenticate']]).toEqual([
          401,
          expect.stringContaining('invalid_token'),
        ]);
        await expect(v.verifyToken(`${h}.${p}.${variant}`)).rejects.toMatchObject({
          code: 'malformed_token',
        });
      }
      if (es) {
        await web.close();
        await v.close();
        await held.close();
      }
    });
  }

  it('in the header and the payload too', async () => {
    const signature = 'A'.repeat(342);
    for (const remainder of [2, 3]) {
      const header = b64(padTo({ alg: 'RS256', kid: genuine.kid }, remainder));
      const payload = b64(padTo(claims(), remainder));
      const tokens = [
        ...aliases(header).map((alias) => `${alias}.${b64(claims())}.${signature}`),
        ...aliases(payload).map(
          (alias) => `${b64({ alg: 'RS256', kid: genuine.kid })}.${alias}.${signature}`,
        ),
      ];
      expect(tokens).toHaveLength(remainder === 2 ? 30 : 6);
      for (const token of tokens) {
        await expect(verifier.verifyToken(token)).rejects.toMatchObject({ code: 'malformed_token' });
      }
    }
  });
});
