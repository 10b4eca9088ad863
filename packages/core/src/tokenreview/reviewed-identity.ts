import { ApiserverTokenError } from '../errors.js';
import {
  identityFromClaims,
  identityFromLegacyClaims,
  type VerifiedIdentity,
} from '../identity/kubernetes-claims.js';
import type { PrecheckedToken } from '../jwt/precheck.js';
import type { AcceptedReview } from './review-result.js';

function dateClaim(value: unknown): Date | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const date = new Date(value * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** What the token itself says, once the apiserver vouched for it; undefined for opaque tokens. */
function claimsIdentity(prechecked: PrecheckedToken, audiences: string[]): Partial<VerifiedIdentity> {
  const { claims, issuer } = prechecked;
  try {
    return prechecked.legacy
      ? identityFromLegacyClaims(claims, issuer)
      : identityFromClaims(claims, issuer, audiences);
  } catch (error) {
    if (!(error instanceof ApiserverTokenError)) throw error;
    // Not a service-account token (an OIDC user, say): keep what every JWT has.
    const times: Partial<VerifiedIdentity> = { issuer };
    const issuedAt = dateClaim(claims.iat);
    if (issuedAt !== undefined) times.issuedAt = issuedAt;
    const expiresAt = dateClaim(claims.exp);
    if (expiresAt !== undefined) times.expiresAt = expiresAt;
    return times;
  }
}

/**
 * One identity from an accepted TokenReview: username, uid, groups and `extra` as the apiserver
 * states them (authoritative), bound object, node and attestations from its `extra` keys, then
 * what only the token says (issuer, `iat`, `exp`, `warnafter`, a Secret binding TokenReview does
 * not report) from the locally verified identity (`hybrid`) or, in `tokenreview` mode, from the
 * claims of the JWT the apiserver has just authenticated, when they name the same user.
 */
export function reviewedIdentity(
  accepted: AcceptedReview,
  prechecked: PrecheckedToken | undefined,
  previous: VerifiedIdentity | undefined,
): VerifiedIdentity {
  const reviewed = accepted.identity;
  let base: Partial<VerifiedIdentity> =
    previous ?? (prechecked ? claimsIdentity(prechecked, accepted.audiences) : {});
  if (base.username !== undefined && base.username !== reviewed.username) {
    // The token's claims name someone else than the apiserver does: trust only its times.
    const { issuer, issuedAt, expiresAt } = base;
    base = { issuer, issuedAt, expiresAt };
  }
  const identity: VerifiedIdentity = {
    username: reviewed.username,
    groups: reviewed.groups,
    extra: reviewed.extra,
    audiences: accepted.audiences,
  };
  const uid = reviewed.uid ?? base.uid;
  if (uid !== undefined) identity.uid = uid;
  const serviceAccount = reviewed.serviceAccount ?? base.serviceAccount;
  if (serviceAccount !== undefined) identity.serviceAccount = serviceAccount;
  const boundObject = reviewed.boundObject ?? base.boundObject;
  if (boundObject !== undefined) identity.boundObject = boundObject;
  const node = reviewed.node ?? base.node;
  if (node !== undefined) identity.node = node;
  const attestations = reviewed.attestations ?? base.attestations;
  if (attestations !== undefined) identity.attestations = attestations;
  for (const key of ['issuer', 'issuedAt', 'expiresAt', 'staleAfter'] as const) {
    const value = base[key];
    if (value !== undefined) (identity as Record<typeof key, unknown>)[key] = value;
  }
  return identity;
}
