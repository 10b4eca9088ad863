import {
  AudienceMismatchError,
  LegacyTokenError,
  MalformedTokenError,
  TokenExpiredError,
  UnknownIssuerError,
} from '../errors.js';
import { dateText, durationText } from '../lib/time-text.js';
import { type DecodedJwt, decodeJwt, describeValue } from './decode.js';

/** The issuer of legacy secret-based service-account tokens. */
export const LEGACY_ISSUER = 'kubernetes/serviceaccount';

/** A token that passed the unverified pre-check: worth a signature verification. */
export interface PrecheckedToken extends DecodedJwt {
  issuer: string;
  /** Our audiences the token carries (empty for an allowed legacy token, which has none). */
  audiences: string[];
  legacy: boolean;
}

/** What the pre-check compares a token with. */
export interface PrecheckSettings {
  algorithms: ReadonlySet<string>;
  /** Accepted issuers; may grow when an issuer is learned by discovery (in-cluster). */
  issuers: ReadonlySet<string>;
  audiences: ReadonlySet<string>;
  /** Leeway, in seconds. */
  clockTolerance: number;
  allowLegacyTokens: boolean;
}

/** The `aud` claim as a list, or undefined when absent; throws when of the wrong type. */
export function readAudiences(claims: Record<string, unknown>): string[] | undefined {
  const aud = claims.aud;
  if (aud === undefined) return undefined;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((value) => typeof value === 'string')) return aud as string[];
  throw new MalformedTokenError('`aud` is neither a string nor an array of strings');
}

/** The `iss` claim; throws when absent or not a string. */
export function readIssuer(claims: Record<string, unknown>): string {
  const iss = claims.iss;
  if (iss === undefined) throw new UnknownIssuerError('the token has no `iss`');
  if (typeof iss !== 'string') throw new MalformedTokenError('`iss` is not a string');
  return iss;
}

/** One object literal, one shape: an object spread here costs more than the rest of the pre-check. */
function prechecked(
  decoded: DecodedJwt,
  issuer: string,
  audiences: string[],
  legacy: boolean,
): PrecheckedToken {
  return {
    header: decoded.header,
    claims: decoded.claims,
    alg: decoded.alg,
    kid: decoded.kid,
    signingInput: decoded.signingInput,
    signature: decoded.signature,
    issuer,
    audiences,
    legacy,
  };
}

/** A legacy secret-based token: passed on without audience or expiry, or refused unless allowed. */
export function precheckLegacy(
  decoded: DecodedJwt,
  settings: Pick<PrecheckSettings, 'allowLegacyTokens'>,
): PrecheckedToken {
  if (!settings.allowLegacyTokens) {
    throw new LegacyTokenError(
      'legacy secret-based token (iss kubernetes/serviceaccount) while allowLegacyTokens is off',
    );
  }
  return prechecked(decoded, LEGACY_ISSUER, [], true);
}

/**
 * The checks once the issuer is accepted: one of our audiences among `tokenAudiences` (the
 * token's `aud`, see {@link readAudiences}), and an `exp` not past (with the leeway).
 */
export function precheckAudienceAndExpiry(
  decoded: DecodedJwt,
  issuer: string,
  tokenAudiences: string[] | undefined,
  settings: Pick<PrecheckSettings, 'audiences' | 'clockTolerance'>,
  nowSeconds: number,
): PrecheckedToken {
  const audiences = tokenAudiences?.filter((value) => settings.audiences.has(value)) ?? [];
  if (audiences.length === 0) {
    throw new AudienceMismatchError(
      `token audiences ${describeValue(tokenAudiences ?? null)} do not include any of ours`,
    );
  }
  const exp = decoded.claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new MalformedTokenError('`exp` is missing or not a number');
  if (exp + settings.clockTolerance < nowSeconds) {
    throw new TokenExpiredError(
      `the token expired at ${dateText(exp)}, ${durationText(nowSeconds - exp)} ago`,
    );
  }
  return prechecked(decoded, issuer, audiences, false);
}

/**
 * The cheap unverified filter run before any verification: it never accepts, it only rejects
 * early what a verification would reject anyway, so that garbage never reaches the issuer.
 *
 * @param nowSeconds - the current time, in seconds since the epoch
 */
export function precheck(token: string, settings: PrecheckSettings, nowSeconds: number): PrecheckedToken {
  const decoded = decodeJwt(token, settings.algorithms);
  const iss = readIssuer(decoded.claims);
  if (iss === LEGACY_ISSUER && !settings.issuers.has(iss)) return precheckLegacy(decoded, settings);
  if (!settings.issuers.has(iss))
    throw new UnknownIssuerError(`issuer ${describeValue(iss)} is not configured`);
  return precheckAudienceAndExpiry(decoded, iss, readAudiences(decoded.claims), settings, nowSeconds);
}
