import { audiences, decodeToken, numericDate } from '../lib/jwt.js';
import type { WebhookBinding } from './token-request-types.js';

/** A token checked to be worth writing, with its times in ms since the epoch. */
export interface UsableToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

/**
 * Refuses what must never replace a token file: an empty string, something that is not a JWT, a
 * token without our audience, one already expired, or (KEP-6060) one not bound as asked. Not a
 * signature check: the apiserver issued it over an authenticated TLS connection.
 * @throws Error saying what is wrong.
 */
export function usableToken(
  token: string,
  expected: { audience: string; now: number; binding?: WebhookBinding },
): UsableToken {
  if (token.trim() === '') throw new Error('the apiserver answered an empty token');
  if (token !== token.trim() || /\s/.test(token)) throw new Error('the token holds whitespace');
  const { claims } = decodeToken(token);
  if (!audiences(claims).includes(expected.audience)) {
    throw new Error(`the token's audiences ${JSON.stringify(audiences(claims))} lack ${expected.audience}`);
  }
  const exp = numericDate(claims, 'exp');
  if (exp === undefined) throw new Error('the token has no expiry');
  if (exp * 1000 <= expected.now) throw new Error('the token is already expired');
  const iat = numericDate(claims, 'iat') ?? expected.now / 1000;
  if (expected.binding) {
    const k8s = claims['kubernetes.io'] as Record<string, { name?: unknown }> | undefined;
    const bound = k8s?.[expected.binding.kind.toLowerCase()];
    if (bound?.name !== expected.binding.name) {
      throw new Error(`the token is not bound to ${expected.binding.kind}/${expected.binding.name}`);
    }
  }
  return { token, issuedAt: iat * 1000, expiresAt: exp * 1000 };
}
