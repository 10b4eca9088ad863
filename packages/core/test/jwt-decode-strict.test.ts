import { describe, expect, it } from 'vitest';
import { AlgorithmNotAllowedError, MalformedTokenError } from '../src/errors.js';
import { decodeJwt } from '../src/jwt/decode.js';

const ALGS = new Set(['RS256']);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const header = b64({ alg: 'RS256', kid: 'k1' });
const payload = b64({ iss: 'https://issuer', sub: 'x', pad: 'ab' });
const signature = 'c2lnbmF0dXJl';

describe('decodeJwt base64url strictness (no regular expression on any part)', () => {
  it('decodes well-formed parts of every length class', () => {
    for (const pad of ['', 'a', 'ab', 'abc']) {
      const p = b64({ iss: 'https://issuer', pad });
      expect(decodeJwt(`${header}.${p}.${signature}`, ALGS).claims.pad).toBe(pad);
    }
  });

  // Node's decoder would skip or accept each of these silently.
  const foreign = ['+', '/', '=', ' ', '\n', '\t', '%', '.', '*', 'é', '\u0100', '\u{1F600}', '\0'];
  // Node decodes these by their low byte, which is in the alphabet: 'A', '+', '/', '_'.
  foreign.push('\u0141', '\u012B', '\u012F', '\u015F', '\u0241');
  for (const character of foreign) {
    for (const where of ['header', 'payload', 'signature'] as const) {
      for (const position of ['start', 'middle', 'end']) {
        it(`refuses ${JSON.stringify(character)} at the ${position} of the ${where}`, () => {
          const parts = { header, payload, signature };
          const base = parts[where];
          const at = position === 'start' ? 0 : position === 'end' ? base.length : base.length >> 1;
          parts[where] = base.slice(0, at) + character + base.slice(at);
          const token = `${parts.header}.${parts.payload}.${parts.signature}`;
          expect(() => decodeJwt(token, ALGS)).toThrow(MalformedTokenError);
          expect(() => decodeJwt(token, ALGS)).toThrow(/base64url|three dot-separated/);
        });
      }
    }
  }

  it('refuses empty parts, padding and lengths no byte string has', () => {
    for (const token of [
      `.${payload}.${signature}`,
      `${header}..${signature}`,
      `${header}.${payload}=.${signature}`,
      `${header}.${payload}a.${signature}`.replace(/a\./, 'aaaaa.'),
      `${header}.${b64({ iss: 'x' })}==.${signature}`,
      `${header}.${payload}.`,
      `${header}.${payload}.${signature}a`,
      `${header}.${payload}.${signature}==`,
    ]) {
      expect(() => decodeJwt(token, ALGS)).toThrow(MalformedTokenError);
    }
  });
});

describe('decodeJwt header reuse (one issuer, one header segment on every token)', () => {
  it('hands back the signature bytes, decoded once', () => {
    expect(decodeJwt(`${header}.${payload}.${signature}`, ALGS).signature.toString()).toBe('signature');
  });

  it('shares one frozen header object between tokens with the same header segment', () => {
    const first = decodeJwt(`${header}.${payload}.${signature}`, ALGS);
    const second = decodeJwt(`${header}.${b64({ iss: 'https://issuer', n: 2 })}.${signature}`, ALGS);
    expect(second.header).toBe(first.header);
    expect(Object.isFrozen(first.header)).toBe(true);
    expect(second.claims).not.toBe(first.claims);
  });

  it('still applies each verifier its own algorithm allow-list to a header seen before', () => {
    const token = `${b64({ alg: 'RS256', kid: 'shared' })}.${payload}.${signature}`;
    expect(decodeJwt(token, new Set(['RS256', 'ES256'])).alg).toBe('RS256');
    expect(() => decodeJwt(token, new Set(['ES256']))).toThrow(AlgorithmNotAllowedError);
    expect(decodeJwt(token, ALGS).kid).toBe('shared');
  });

  it('is not poisoned by a header that decodes by low bytes into another segment', () => {
    const plus = b64({ alg: 'RS256', kid: 'k1' }).replace(/.$/, '+');
    const lookalike = plus.replace('+', '\u012B');
    expect(() => decodeJwt(`${lookalike}.${payload}.${signature}`, ALGS)).toThrow(MalformedTokenError);
    expect(() => decodeJwt(`${plus}.${payload}.${signature}`, ALGS)).toThrow(MalformedTokenError);
  });

  it('decodes an oversized header every time instead of keeping it', () => {
    const big = b64({ alg: 'RS256', kid: 'k'.repeat(600) });
    const first = decodeJwt(`${big}.${payload}.${signature}`, ALGS);
    const second = decodeJwt(`${big}.${payload}.${signature}`, ALGS);
    expect(second.header).toEqual(first.header);
    expect(second.header).not.toBe(first.header);
  });

  it('refuses a key-bearing or critical header on every sight, never remembering it', () => {
    for (const bad of [
      { alg: 'RS256', jku: 'https://evil/jwks' },
      { alg: 'RS256', crit: ['exp'] },
      { alg: 'RS256', kid: 7 },
    ]) {
      const token = `${b64(bad)}.${payload}.${signature}`;
      for (let i = 0; i < 3; i++) expect(() => decodeJwt(token, ALGS)).toThrow();
    }
  });

  it('stays correct after a flood of distinct headers fills and empties its memory', () => {
    for (let i = 0; i < 500; i++)
      decodeJwt(`${b64({ alg: 'RS256', kid: `k${i}` })}.${payload}.${signature}`, ALGS);
    for (let i = 0; i < 500; i += 37) {
      expect(decodeJwt(`${b64({ alg: 'RS256', kid: `k${i}` })}.${payload}.${signature}`, ALGS).kid).toBe(
        `k${i}`,
      );
    }
  });
});
