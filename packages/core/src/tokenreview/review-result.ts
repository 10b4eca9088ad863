import { TokenRejectedError } from '../errors.js';
import { describeValue } from '../jwt/decode.js';
import { scrubUpstreamText } from '../lib/scrub.js';
import { identityFromReviewUser, type ReviewedIdentity, type TokenReviewUser } from './user-identity.js';

/** `status` of a TokenReview response. A rejection has `authenticated` absent, not `false`. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: TokenReviewUser;
  audiences?: string[];
  error?: string;
}

/** What a TokenReview that authenticated the token for at least one of our audiences yields. */
export interface AcceptedReview {
  identity: ReviewedIdentity;
  /** The overlap of our audiences with `status.audiences`, never empty. */
  audiences: string[];
}

/**
 * Read a TokenReview's verdict. Accepts only `authenticated === true` with a non-empty overlap
 * between the audiences we asked for and `status.audiences`; anything else throws
 * `TokenRejectedError` whose message (for logs, never for the caller) carries `status.error`,
 * with `token` and anything JWT-shaped scrubbed from it (an authenticator may echo its input).
 */
export function readReviewStatus(
  status: TokenReviewStatus | undefined,
  requested: readonly string[],
  token?: string,
): AcceptedReview {
  if (status === undefined || status === null || typeof status !== 'object') {
    throw new TokenRejectedError('TokenReview answered without a status');
  }
  if (status.authenticated !== true) {
    const reason =
      typeof status.error === 'string' && status.error !== ''
        ? scrubUpstreamText(status.error, [token])
        : 'no reason given';
    throw new TokenRejectedError(`TokenReview: not authenticated: ${JSON.stringify(reason.slice(0, 300))}`);
  }
  const stated = Array.isArray(status.audiences) ? status.audiences : [];
  const audiences = requested.filter((audience) => stated.includes(audience));
  if (audiences.length === 0) {
    // An authenticator that is not audience-aware answers without audiences: the token may be
    // meant for anyone, so it is not proof that it was meant for us.
    throw new TokenRejectedError(
      `TokenReview: authenticated, but for audiences ${describeValue(stated)}, none of ours`,
    );
  }
  const user = status.user;
  if (
    user === undefined ||
    typeof user !== 'object' ||
    typeof user.username !== 'string' ||
    user.username === ''
  ) {
    throw new TokenRejectedError('TokenReview: authenticated without a username');
  }
  return { identity: identityFromReviewUser(user), audiences };
}

/** The body of an `authentication.k8s.io/v1` TokenReview asking about `token` for `audiences`. */
export function tokenReviewBody(token: string, audiences: readonly string[]) {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, audiences: [...audiences] },
  };
}
