import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { precheckForReview, type ReviewPrecheckSettings } from '../src/tokenreview/precheck.js';

const FIXTURES = new URL('../../../test/fixtures/kube-apiserver-v1.28.4/', import.meta.url);
const token = (name: string) => readFileSync(new URL(`tokens/${name}.jwt`, FIXTURES), 'utf8').trim();
const claims = (name: string) =>
  JSON.parse(readFileSync(new URL(`tokens/${name}.json`, FIXTURES), 'utf8')).claims;

const base: ReviewPrecheckSettings = {
  algorithms: new Set(['RS256', 'ES256']),
  issuers: new Set(),
  audiences: new Set(['https://webhook.example']),
  clockTolerance: 60,
  allowLegacyTokens: false,
  allowOpaqueTokens: false,
};
const at = (name: string) => claims(name).iat + 10;

describe('pre-check in front of TokenReview (issuer unknown)', () => {
  it('lets a well-formed JWT for our audience through, with its claims', () => {
    const prechecked = precheckForReview(token('token'), base, at('token'));
    expect(prechecked?.issuer).toBe('https://127.0.0.1:6443');
    expect(prechecked?.audiences).toEqual(['https://webhook.example']);
  });

  it('rejects wrong audience, expiry past the leeway, bad structure and algorithms locally', () => {
    const jwt = token('token');
    const exp = claims('token').exp;
    expect(() => precheckForReview(token('token-default'), base, at('token-default'))).toThrow(
      expect.objectContaining({ code: 'audience_mismatch' }),
    );
    expect(() => precheckForReview(jwt, base, exp + 61)).toThrow(
      expect.objectContaining({ code: 'expired' }),
    );
    expect(precheckForReview(jwt, base, exp + 59)).toBeDefined();
    expect(() => precheckForReview('a.b.c', base, 0)).toThrow(
      expect.objectContaining({ code: 'malformed_token' }),
    );
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${jwt.split('.')[1]}.`;
    expect(() => precheckForReview(none, base, at('token'))).toThrow();
    const hs = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${jwt.split('.')[1]}.c2ln`;
    expect(() => precheckForReview(hs, base, at('token'))).toThrow(
      expect.objectContaining({ code: 'algorithm_not_allowed' }),
    );
  });

  it('checks the issuer when one is configured', () => {
    const settings = { ...base, issuers: new Set(['https://kubernetes.default.svc']) };
    expect(() => precheckForReview(token('token'), settings, at('token'))).toThrow(
      expect.objectContaining({ code: 'unknown_issuer' }),
    );
    const right = { ...base, issuers: new Set(['https://127.0.0.1:6443']) };
    expect(precheckForReview(token('token'), right, at('token'))?.issuer).toBe('https://127.0.0.1:6443');
  });

  it('opaque tokens: rejected by default, passed on (undefined) with allowOpaqueTokens', () => {
    const opaque = '24a5c43c0e1432cb2ab5fb523542a945ec40814d82b776b5';
    expect(() => precheckForReview(opaque, base, 0)).toThrow(
      expect.objectContaining({ code: 'malformed_token' }),
    );
    expect(() => precheckForReview('abc.def', base, 0)).toThrow(
      expect.objectContaining({ code: 'malformed_token' }),
    );
    expect(precheckForReview(opaque, { ...base, allowOpaqueTokens: true }, 0)).toBeUndefined();
    // A three-part token is always treated as a JWT: garbage in that shape never reaches the apiserver.
    expect(() => precheckForReview('x.y.z', { ...base, allowOpaqueTokens: true }, 0)).toThrow();
  });

  it('legacy secret tokens (no aud, no exp) only with allowLegacyTokens', () => {
    expect(() => precheckForReview(token('legacy'), base, 1795451000)).toThrow(
      expect.objectContaining({ code: 'legacy_token' }),
    );
    expect(precheckForReview(token('legacy'), { ...base, allowLegacyTokens: true }, 1795451000)?.legacy).toBe(
      true,
    );
  });
});
