import {
  IssuedInFutureError,
  MalformedTokenError,
  TokenExpiredError,
  TokenNotYetValidError,
} from '../errors.js';
import { dateText, durationText } from '../lib/time-text.js';

function numericDate(claims: Record<string, unknown>, name: 'exp' | 'nbf' | 'iat'): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new MalformedTokenError(`\`${name}\` is not a number`);
  return value;
}

/**
 * `exp`, `nbf` and `iat` against the clock with a leeway, as kube-apiserver checks them.
 * `exp` is required unless `requireExp` is false (legacy tokens have none).
 */
export function checkTimeClaims(
  claims: Record<string, unknown>,
  nowSeconds: number,
  leewaySeconds: number,
  requireExp: boolean,
): void {
  const exp = numericDate(claims, 'exp');
  const nbf = numericDate(claims, 'nbf');
  const iat = numericDate(claims, 'iat');
  if (exp === undefined) {
    if (requireExp) throw new MalformedTokenError('`exp` is missing');
  } else if (exp + leewaySeconds < nowSeconds) {
    throw new TokenExpiredError(
      `the token expired at ${dateText(exp)}, ${durationText(nowSeconds - exp)} ago`,
    );
  }
  if (nbf !== undefined && nbf - leewaySeconds > nowSeconds) {
    throw new TokenNotYetValidError(
      `the token is not valid before ${dateText(nbf)}, ${durationText(nbf - nowSeconds)} from now`,
    );
  }
  if (iat !== undefined && iat - leewaySeconds > nowSeconds) {
    throw new IssuedInFutureError(
      `the token is issued at ${dateText(iat)}, ${durationText(iat - nowSeconds)} from now`,
    );
  }
}
