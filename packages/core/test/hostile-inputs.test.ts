import { createHmac, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiserverTokenVerifier,
  createVerifier,
  isApiserverTokenError,
  type RequestLike,
} from '../src/index.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, rawJwt, signJwt } from './helpers/keys.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const key = makeKey('RS256');
const ecKey = makeKey('ES256');
const forger = makeKey('RS256');
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

let api: JwksServer;
let verifier: ApiserverTokenVerifier;
let issuer: string;
const NOW = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  api = await startJwksServer({ jwks: jwksOf(key, ecKey) });
  issuer = api.issuer;
  verifier = createVerifier({
    audience: AUDIENCE,
    issuer,
    jwks: { ca: api.ca },
    env: {},
    now: () => NOW * 1000,
  });
});
afterAll(async () => {
  await verifier.close();
  await api.close();
});

const claims = (extra: Record<string, unknown> = {}) => ({
  ...kubeClaims({ issuer, audiences: [AUDIENCE], nowSeconds: NOW }),
  ...extra,
});
const header = (extra: Record<string, unknown> = {}) => ({ alg: 'RS256', kid: key.kid, ...extra });
const good = () => signJwt(key, claims());
const bearer = (token: string): RequestLike => ({ headers: { authorization: `Bearer ${token}` } });

type Case = [name: string, request: () => RequestLike, code: string, verifier?: 'legacy'];

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/**
 * A token (built with the shortest `pad` that leaves part `index` with unused bits, i.e. a length
 * of 2 or 3 mod 4) with that part re-spelled: an unused bit of its last character set, same bytes.
 */
function nonCanonical(build: (pad: string) => string, index: number): string {
  for (let pad = ''; ; pad += 'x') {
    const parts = build(pad).split('.');
    const part = parts[index] as string;
    if (part.length % 4 < 2) continue;
    const last = ALPHABET.indexOf(part.at(-1) as string);
    parts[index] = part.slice(0, -1) + ALPHABET[last | 1];
    return parts.join('.');
  }
}

const legacyClaims = (extra: Record<string, unknown>) => {
  const all: Record<string, unknown> = {
    iss: 'kubernetes/serviceaccount',
    sub: 'system:serviceaccount:kube-system:webhook-auth',
    'kubernetes.io/serviceaccount/namespace': 'kube-system',
    'kubernetes.io/serviceaccount/secret.name': 'webhook-auth-token',
    'kubernetes.io/serviceaccount/service-account.name': 'webhook-auth',
    'kubernetes.io/serviceaccount/service-account.uid': '0d5e9a80-0000-4000-8000-00000000000a',
    ...extra,
  };
  for (const [name, value] of Object.entries(all)) if (value === undefined) delete all[name];
  return all;
};

// Everything here is caught before any key is needed: not one request may reach the issuer.
const caughtEarly: Case[] = [
  ['no Authorization header', () => ({ headers: {} }), 'missing_token'],
  ['empty Authorization header', () => ({ headers: { authorization: '' } }), 'missing_token'],
  ['blank Authorization header', () => ({ headers: { authorization: '   ' } }), 'missing_token'],
  ['Basic scheme', () => ({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 'malformed_authorization'],
  ['Token scheme', () => ({ headers: { authorization: `Token ${good()}` } }), 'malformed_authorization'],
  ['Bearer without token', () => ({ headers: { authorization: 'Bearer' } }), 'malformed_authorization'],
  [
    'Bearer and a trailing space',
    () => ({ headers: { authorization: 'Bearer ' } }),
    'malformed_authorization',
  ],
  ['double space', () => ({ headers: { authorization: `Bearer  ${good()}` } }), 'malformed_authorization'],
  [
    'tab instead of space',
    () => ({ headers: { authorization: `Bearer\t${good()}` } }),
    'malformed_authorization',
  ],
  [
    'words after the token',
    () => ({ headers: { authorization: `Bearer ${good()} extra` } }),
    'malformed_authorization',
  ],
  [
    'several Authorization headers',
    () => ({ headers: { authorization: [`Bearer ${good()}`, `Bearer ${good()}`] } }),
    'malformed_authorization',
  ],
  [
    'several Authorization headers in rawHeaders',
    () => ({
      headers: { authorization: `Bearer ${good()}` },
      rawHeaders: ['Authorization', `Bearer ${good()}`, 'authorization', 'Bearer x'],
    }),
    'malformed_authorization',
  ],
  [
    'headers joined by a Headers object',
    () => ({ headers: new Headers([['authorization', `Bearer ${good()}, Bearer ${good()}`]]) }),
    'malformed_authorization',
  ],
  ['oversized token', () => bearer('a'.repeat(20_000)), 'token_too_large'],
  ['huge header', () => bearer(rawJwt(header({ pad: 'x'.repeat(17_000) }), claims())), 'token_too_large'],
  ['alg none', () => bearer(`${b64({ alg: 'none' })}.${b64(claims())}.`), 'algorithm_not_allowed'],
  ['alg None', () => bearer(rawJwt({ alg: 'None' }, claims())), 'algorithm_not_allowed'],
  [
    'HS256 signed with the public key as secret',
    () => {
      const input = `${b64({ alg: 'HS256', kid: key.kid })}.${b64(claims())}`;
      const secret = key.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      return bearer(`${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`);
    },
    'algorithm_not_allowed',
  ],
  ['alg missing', () => bearer(rawJwt({ kid: key.kid }, claims())), 'algorithm_not_allowed'],
  ['alg not a string', () => bearer(rawJwt({ alg: 256 }, claims())), 'algorithm_not_allowed'],
  ['alg with a trailing space', () => bearer(rawJwt({ alg: 'RS256 ' }, claims())), 'algorithm_not_allowed'],
  ['PS256 not opted in', () => bearer(rawJwt(header({ alg: 'PS256' }), claims())), 'algorithm_not_allowed'],
  ['EdDSA', () => bearer(rawJwt(header({ alg: 'EdDSA' }), claims())), 'algorithm_not_allowed'],
  ['embedded jwk', () => bearer(signJwt(forger, claims(), { jwk: forger.jwk })), 'algorithm_not_allowed'],
  [
    'jku',
    () => bearer(signJwt(forger, claims(), { jku: 'https://evil.example/jwks' })),
    'algorithm_not_allowed',
  ],
  [
    'x5u',
    () => bearer(signJwt(forger, claims(), { x5u: 'https://evil.example/cert' })),
    'algorithm_not_allowed',
  ],
  ['x5c', () => bearer(signJwt(forger, claims(), { x5c: ['MIIB'] })), 'algorithm_not_allowed'],
  ['unknown crit', () => bearer(signJwt(key, claims(), { crit: ['exp'] })), 'algorithm_not_allowed'],
  [
    'crit b64 false',
    () => bearer(signJwt(key, claims(), { crit: ['b64'], b64: false })),
    'algorithm_not_allowed',
  ],
  ['two segments', () => bearer(`${b64(header())}.${b64(claims())}`), 'malformed_token'],
  ['four segments', () => bearer(`${good()}.AAAA`), 'malformed_token'],
  ['five segments (JWE)', () => bearer(`${b64(header())}.a.b.c.d`), 'malformed_token'],
  ['empty segments', () => bearer('..'), 'malformed_token'],
  ['standard base64 characters', () => bearer(good().replace(/\./, '+/.')), 'malformed_token'],
  ['base64 padding', () => bearer(`${b64(header())}==.${b64(claims())}.c2ln`), 'malformed_token'],
  ['impossible base64url length', () => bearer(`${b64(header())}.${b64(claims())}A.c2ln`), 'malformed_token'],
  [
    'signature with unused bits set in its last character (non-canonical)',
    () => bearer(nonCanonical(() => good(), 2)),
    'malformed_token',
  ],
  [
    'header with unused bits set in its last character (non-canonical)',
    () => bearer(nonCanonical((p) => `${b64(header({ p }))}.${b64(claims())}.c2ln`, 0)),
    'malformed_token',
  ],
  [
    'payload with unused bits set in its last character (non-canonical)',
    () => bearer(nonCanonical((p) => `${b64(header())}.${b64(claims({ p }))}.c2ln`, 1)),
    'malformed_token',
  ],
  ['header not JSON', () => bearer(`${b64('{alg:RS256}')}.${b64(claims())}.c2ln`), 'malformed_token'],
  ['header a JSON array', () => bearer(rawJwt(['RS256'], claims())), 'malformed_token'],
  ['header JSON null', () => bearer(rawJwt(null, claims())), 'malformed_token'],
  ['header a JSON string', () => bearer(rawJwt('RS256', claims())), 'malformed_token'],
  ['payload a JSON array', () => bearer(rawJwt(header(), [claims()])), 'malformed_token'],
  ['payload a number', () => bearer(rawJwt(header(), 42)), 'malformed_token'],
  ['payload not JSON', () => bearer(`${b64(header())}.${b64('iss=me')}.c2ln`), 'malformed_token'],
  [
    'nested JSON bomb as payload',
    () => bearer(rawJwt(header(), `${'['.repeat(5000)}${']'.repeat(5000)}`)),
    'malformed_token',
  ],
  ['nested JSON bomb, unbalanced', () => bearer(rawJwt(header(), '{"a":'.repeat(2000))), 'malformed_token'],
  ['kid not a string', () => bearer(rawJwt(header({ kid: 7 }), claims())), 'malformed_token'],
  ['unicode token', () => bearer('ťoken.ťoken.ťoken'), 'malformed_token'],
  ['NUL byte in the token', () => bearer(`${good()}\u0000`), 'malformed_token'],
  ['aud a number', () => bearer(rawJwt(header(), claims({ aud: 1 }))), 'malformed_token'],
  [
    'aud an array holding a number',
    () => bearer(rawJwt(header(), claims({ aud: [AUDIENCE, 1] }))),
    'malformed_token',
  ],
  ['aud an object', () => bearer(rawJwt(header(), claims({ aud: { 0: AUDIENCE } }))), 'malformed_token'],
  ['aud missing', () => bearer(rawJwt(header(), claims({ aud: undefined }))), 'audience_mismatch'],
  [
    'aud another service',
    () => bearer(rawJwt(header(), claims({ aud: ['https://other.example'] }))),
    'audience_mismatch',
  ],
  ['aud empty', () => bearer(rawJwt(header(), claims({ aud: [] }))), 'audience_mismatch'],
  [
    'aud differing by a trailing slash',
    () => bearer(rawJwt(header(), claims({ aud: `${AUDIENCE}/` }))),
    'audience_mismatch',
  ],
  ['exp a string', () => bearer(rawJwt(header(), claims({ exp: String(NOW + 600) }))), 'malformed_token'],
  ['exp missing', () => bearer(rawJwt(header(), claims({ exp: undefined }))), 'malformed_token'],
  [
    'exp infinite',
    () =>
      bearer(`${b64(header())}.${b64(JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400'))}.c2ln`),
    'malformed_token',
  ],
  ['exp long past', () => bearer(rawJwt(header(), claims({ exp: NOW - 3600 }))), 'expired'],
  ['iss missing', () => bearer(rawJwt(header(), claims({ iss: undefined }))), 'unknown_issuer'],
  [
    'iss of another cluster',
    () => bearer(rawJwt(header(), claims({ iss: 'https://evil.example' }))),
    'unknown_issuer',
  ],
  [
    'iss with a trailing slash',
    () => bearer(rawJwt(header(), claims({ iss: `${issuer}/` }))),
    'unknown_issuer',
  ],
  ['iss not a string', () => bearer(rawJwt(header(), claims({ iss: [issuer] }))), 'malformed_token'],
  [
    'legacy secret token',
    () => bearer(rawJwt(header(), { iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:a:b' })),
    'legacy_token',
  ],
];

// These pass the pre-check: only the keys can tell.
const needKeys: Case[] = [
  [
    'signed by a foreign key with the real kid',
    () => bearer(signJwt(forger, claims(), { kid: key.kid })),
    'invalid_signature',
  ],
  ['signed by a foreign key, foreign kid', () => bearer(signJwt(forger, claims())), 'unknown_key'],
  ['truncated signature', () => bearer(good().slice(0, -10)), 'invalid_signature'],
  [
    'claims swapped under a valid signature',
    () => {
      const [h, , s] = good().split('.');
      return bearer(`${h}.${b64(claims({ sub: 'system:serviceaccount:kube-system:admin' }))}.${s}`);
    },
    'invalid_signature',
  ],
  [
    'ES256 with a DER signature',
    () => {
      const input = `${b64({ alg: 'ES256', kid: ecKey.kid })}.${b64(claims())}`;
      return bearer(`${input}.${sign('sha256', Buffer.from(input), ecKey.privateKey).toString('base64url')}`);
    },
    'invalid_signature',
  ],
  [
    'ES256 naming the RSA key (algorithm confusion)',
    () => bearer(signJwt(makeKey('ES256'), claims(), { kid: key.kid })),
    'invalid_signature',
  ],
  [
    'ES384 whose kid is unknown and no key fits',
    () => bearer(signJwt(makeKey('ES384'), claims())),
    'unknown_key',
  ],
  [
    "signed by one held key under another held key's kid",
    () => bearer(signJwt(ecKey, claims(), { kid: key.kid, alg: 'ES256' })),
    'invalid_signature',
  ],
  [
    'signed by a held key under an unknown kid',
    () => bearer(signJwt(key, claims(), { kid: 'unknown-kid' })),
    'unknown_key',
  ],
  [
    'legacy token without sub, genuinely signed (allowLegacyTokens)',
    () => bearer(signJwt(key, legacyClaims({ sub: undefined }))),
    'malformed_token',
    'legacy',
  ],
  [
    'legacy token without service-account.uid, genuinely signed (allowLegacyTokens)',
    () =>
      bearer(signJwt(key, legacyClaims({ 'kubernetes.io/serviceaccount/service-account.uid': undefined }))),
    'malformed_token',
    'legacy',
  ],
  [
    'legacy token whose sub names another account (allowLegacyTokens)',
    () => bearer(signJwt(key, legacyClaims({ sub: 'system:serviceaccount:kube-system:admin' }))),
    'malformed_token',
    'legacy',
  ],
  ['nbf in the future', () => bearer(signJwt(key, claims({ nbf: NOW + 600 }))), 'not_yet_valid'],
  ['iat in the future', () => bearer(signJwt(key, claims({ iat: NOW + 600, nbf: NOW }))), 'issued_in_future'],
  [
    'no kubernetes.io claims',
    () => bearer(signJwt(key, claims({ 'kubernetes.io': undefined }))),
    'malformed_token',
  ],
  [
    'sub not matching the service account',
    () => bearer(signJwt(key, claims({ sub: 'system:serviceaccount:kube-system:admin' }))),
    'malformed_token',
  ],
  [
    'pod claim of the wrong shape',
    () =>
      bearer(
        signJwt(
          key,
          claims({ 'kubernetes.io': { namespace: 'a', serviceaccount: { name: 'b' }, pod: 'p1' } }),
        ),
      ),
    'malformed_token',
  ],
];

let legacyVerifier: ApiserverTokenVerifier;
beforeAll(() => {
  legacyVerifier = createVerifier({
    audience: AUDIENCE,
    issuer,
    jwks: { ca: api.ca },
    allowLegacyTokens: true,
    env: {},
    now: () => NOW * 1000,
  });
});
afterAll(async () => {
  await legacyVerifier.close();
});

async function codeOf(request: RequestLike, which?: 'legacy'): Promise<string> {
  try {
    await (which === 'legacy' ? legacyVerifier : verifier).verify(request);
    return 'accepted';
  } catch (error) {
    expect(isApiserverTokenError(error)).toBe(true);
    expect([401, 403]).toContain((error as { status: number }).status);
    return (error as { code: string }).code;
  }
}

describe('hostile tokens and headers', () => {
  it('has a table of at least 40 hostile inputs', () => {
    expect(caughtEarly.length + needKeys.length).toBeGreaterThanOrEqual(40);
  });

  describe('caught by extraction or the pre-check, before any request to the issuer', () => {
    for (const [name, request, code] of caughtEarly) {
      it(`${name} → ${code}`, async () => {
        expect(await codeOf(request())).toBe(code);
        expect(api.counts.total).toBe(0);
      });
    }
  });

  describe('caught by the signature or claim checks', () => {
    for (const [name, request, code, which] of needKeys) {
      it(`${name} → ${code}`, async () => {
        expect(await codeOf(request(), which)).toBe(code);
      });
    }
  });

  it('still accepts a genuine token, scheme in any case', async () => {
    await expect(verifier.verify({ headers: { authorization: `bEaReR ${good()}` } })).resolves.toMatchObject({
      issuer,
    });
    await expect(
      verifier.verify({ headers: new Headers([['Authorization', `  Bearer ${good()}  `]]) }),
    ).resolves.toBeDefined();
  });
});

describe('admission mode: the hostile table with an AdmissionReview stream attached (issue 8, item 6)', () => {
  // The token is checked from the headers first: not one hostile request may make the verifier
  // read (buffer) its body.
  let admissionVerifier: ApiserverTokenVerifier;
  beforeAll(() => {
    admissionVerifier = createVerifier({
      audience: AUDIENCE,
      issuer,
      jwks: { ca: api.ca },
      admission: true,
      env: {},
      now: () => NOW * 1000,
    });
  });
  afterAll(async () => {
    await admissionVerifier.close();
  });

  /** A request body that records whether anyone began to read it. */
  const untouched = () => {
    const state = { read: false };
    const stream: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        state.read = true;
        return [Buffer.from('{"kind":"AdmissionReview"}')][Symbol.iterator]() as never;
      },
    };
    return { state, stream };
  };

  it('refuses every hostile token with the same code, its body never read', async () => {
    for (const [name, request, code, which] of [...caughtEarly, ...needKeys]) {
      if (which === 'legacy') continue;
      const { state, stream } = untouched();
      const error = await admissionVerifier.verify({ ...request(), stream }).then(
        () => undefined,
        (caught: { code: string }) => caught,
      );
      expect({ name, code: error?.code, read: state.read }).toEqual({ name, code, read: false });
    }
  });
});

describe('requests of the wrong shape', () => {
  it('answers an ApiserverTokenError, never a TypeError', async () => {
    for (const request of [
      {},
      { headers: null },
      { headers: { authorization: 42 } },
    ] as unknown as RequestLike[]) {
      const error = await verifier.verify(request).catch((caught: unknown) => caught);
      expect(isApiserverTokenError(error)).toBe(true);
    }
    await expect(verifier.verifyToken(undefined as unknown as string)).rejects.toMatchObject({
      code: 'malformed_token',
    });
  });
});
