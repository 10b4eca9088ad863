import {
  AudienceMismatchError,
  LegacyTokenError,
  MalformedTokenError,
  TokenExpiredError,
  UnknownIssuerError,
} from '../errors.js';
import { decodeJwt, describeValue } from '../jwt/decode.js';
import {
  LEGACY_ISSUER,
  type PrecheckedToken,
  type PrecheckSettings,
  precheck,
  readAudiences,
} from '../verifier/precheck.js';

/** The pre-check settings of the `tokenreview` mode. */
export interface ReviewPrecheckSettings extends PrecheckSettings {
  /** Let non-JWT tokens through to TokenReview (`tokenReview.allowOpaqueTokens`). */
  allowOpaqueTokens: boolean;
}

function isCompactJws(token: string): boolean {
  const first = token.indexOf('.');
  if (first === -1) return false;
  const second = token.indexOf('.', first + 1);
  return second !== -1 && token.indexOf('.', second + 1) === -1;
}

/**
 * The unverified filter in front of TokenReview, where the issuer may be unknown. A JWT gets the
 * same checks as in `jwks` mode when issuers are configured; without them its structure,
 * algorithm, audience and expiry are checked (a legacy secret token, which has neither audience
 * nor expiry, only passes with `allowLegacyTokens`, and the apiserver then accepts it only for its
 * own API audience). A token that is not three dot-separated parts is opaque: rejected as
 * `malformed_token` unless `allowOpaqueTokens`, then left entirely to the apiserver (undefined).
 */
export function precheckForReview(
  token: string,
  settings: ReviewPrecheckSettings,
  nowSeconds: number,
): PrecheckedToken | undefined {
  if (!isCompactJws(token)) {
    if (settings.allowOpaqueTokens) return undefined;
    throw new MalformedTokenError(
      'not a JWT, and opaque tokens are not sent to TokenReview (tokenReview.allowOpaqueTokens)',
    );
  }
  if (settings.issuers.size > 0) return precheck(token, settings, nowSeconds);
  const decoded = decodeJwt(token, settings.algorithms);
  const { claims } = decoded;
  const iss = claims.iss;
  if (iss === undefined) throw new UnknownIssuerError('the token has no `iss`');
  if (typeof iss !== 'string') throw new MalformedTokenError('`iss` is not a string');
  const tokenAudiences = readAudiences(claims);
  if (iss === LEGACY_ISSUER) {
    if (!settings.allowLegacyTokens) {
      throw new LegacyTokenError(
        'legacy secret-based token (iss kubernetes/serviceaccount) while allowLegacyTokens is off',
      );
    }
    return { ...decoded, issuer: iss, audiences: [], legacy: true };
  }
  const audiences = tokenAudiences?.filter((value) => settings.audiences.has(value)) ?? [];
  if (audiences.length === 0) {
    throw new AudienceMismatchError(
      `token audiences ${describeValue(tokenAudiences ?? null)} do not include any of ours`,
    );
  }
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new MalformedTokenError('`exp` is missing or not a number');
  if (exp + settings.clockTolerance < nowSeconds) {
    throw new TokenExpiredError(`the token expired at ${exp}, ${Math.round(nowSeconds - exp)} s ago`);
  }
  return { ...decoded, issuer: iss, audiences, legacy: false };
}
