import { MalformedTokenError } from '../errors.js';
import { decodeJwt } from '../jwt/decode.js';
import {
  LEGACY_ISSUER,
  type PrecheckedToken,
  type PrecheckSettings,
  precheck,
  precheckAudienceAndExpiry,
  precheckLegacy,
  readAudiences,
  readIssuer,
} from '../jwt/precheck.js';

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
  const iss = readIssuer(decoded.claims);
  // Read (and type-checked) before the legacy branch: a malformed `aud` is refused even there.
  const tokenAudiences = readAudiences(decoded.claims);
  if (iss === LEGACY_ISSUER) return precheckLegacy(decoded, settings);
  return precheckAudienceAndExpiry(decoded, iss, tokenAudiences, settings, nowSeconds);
}
