import { describe, expect, it } from 'vitest';
import { MalformedTokenError } from '../src/errors.js';
import { decodeJwt } from '../src/jwt/decode.js';

const ALGS = new Set(['RS256']);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const header = b64({ alg: 'RS256', kid: 'k1' });
const payload = b64({ iss: 'https://issuer', sub: 'x', pad: 'ab' });
const signature = 'c2lnbmF0dXJl';

describe('decodeJwt base64url strictness (no regular expression on header and payload)', () => {
  it('decodes well-formed parts of every length class', () => {
    for (const pad of ['', 'a', 'ab', 'abc']) {
      const p = b64({ iss: 'https://issuer', pad });
      expect(decodeJwt(`${header}.${p}.${signature}`, ALGS).claims.pad).toBe(pad);
    }
  });

  // Node's decoder would skip or accept each of these silently.
  const foreign = ['+', '/', '=', ' ', '\n', '\t', '%', '.', '*', 'é', '\u0100', '\u{1F600}', '\0'];
  for (const character of foreign) {
    for (const where of ['header', 'payload'] as const) {
      for (const position of ['start', 'middle', 'end']) {
        it(`refuses ${JSON.stringify(character)} at the ${position} of the ${where}`, () => {
          const base = where === 'header' ? header : payload;
          const at = position === 'start' ? 0 : position === 'end' ? base.length : base.length >> 1;
          const tampered = base.slice(0, at) + character + base.slice(at);
          const token =
            where === 'header' ? `${tampered}.${payload}.${signature}` : `${header}.${tampered}.${signature}`;
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
    ]) {
      expect(() => decodeJwt(token, ALGS)).toThrow(MalformedTokenError);
    }
  });
});
