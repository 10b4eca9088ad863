import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import type { UserInfo } from '../auth/users.js';
import { badRequestStatus } from '../http/status.js';
import { sortKeysDeep } from '../lib/sort-keys.js';
import type { KubernetesStatus } from '../types.js';
import { reviewMetadata } from './managed-fields.js';
import type { ReviewCache } from './review-cache.js';

export interface TokenReviewContext {
  authenticator: TokenAuthenticator;
  apiAudiences: () => string[];
  cache: ReviewCache | undefined;
  now: () => number;
}

export type ReviewAnswer = { status: number; body: Record<string, unknown> | KubernetesStatus };

const API_VERSION = 'authentication.k8s.io/v1';

/** `POST /apis/authentication.k8s.io/v1/tokenreviews`, after the caller was allowed. */
export function reviewToken(request: unknown, manager: string, ctx: TokenReviewContext): ReviewAnswer {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    return {
      status: 400,
      body: badRequestStatus('the object provided is unrecognized (must be of type TokenReview)'),
    };
  }
  const { kind, apiVersion, spec } = request as { kind?: unknown; apiVersion?: unknown; spec?: unknown };
  if (
    (kind !== undefined && kind !== 'TokenReview') ||
    (apiVersion !== undefined && apiVersion !== API_VERSION)
  ) {
    return {
      status: 400,
      body: badRequestStatus(
        `the API version in the data (${String(apiVersion)}) does not match the expected API version (${API_VERSION}) or kind ${JSON.stringify(kind)} is not TokenReview`,
      ),
    };
  }
  const s = (spec ?? {}) as { token?: unknown; audiences?: unknown };
  if (typeof s.token !== 'string' || s.token.length === 0) {
    return { status: 400, body: badRequestStatus('token is required for TokenReview in authentication') };
  }
  if (
    s.audiences !== undefined &&
    s.audiences !== null &&
    !(Array.isArray(s.audiences) && s.audiences.every((a) => typeof a === 'string'))
  ) {
    return { status: 400, body: badRequestStatus('spec.audiences must be a list of strings') };
  }
  const sent = (s.audiences as string[] | null | undefined) ?? [];
  const token = s.token;
  // No (or an empty list of) audiences: the apiserver reviews for its own audiences.
  const implicit = ctx.apiAudiences();
  const requested = sent.length > 0 ? sent : implicit.length > 0 ? implicit : undefined;

  const cached = ctx.cache?.get(token, requested);
  let outcome: { ok: true; user: UserInfo; audiences: string[] } | { ok: false; error?: string };
  if (cached) outcome = { ok: true, user: cached.user, audiences: cached.audiences };
  else {
    outcome = ctx.authenticator.authenticate(token, requested);
    if (outcome.ok) ctx.cache?.set(token, requested, outcome.user, outcome.audiences);
  }

  const echoedSpec: Record<string, unknown> = { token, ...(sent.length > 0 ? { audiences: sent } : {}) };
  const status: Record<string, unknown> = outcome.ok
    ? { authenticated: true, user: userJson(outcome.user), audiences: outcome.audiences }
    : { user: {}, error: outcome.error ?? 'invalid bearer token' };
  return {
    status: 201,
    body: {
      kind: 'TokenReview',
      apiVersion: API_VERSION,
      metadata: reviewMetadata(API_VERSION, echoedSpec, manager, ctx.now()),
      spec: echoedSpec,
      status,
    },
  };
}

/** `status.user` as Go serialises it: empty uid and extra omitted, extra keys sorted. */
export function userJson(user: UserInfo): Record<string, unknown> {
  return {
    username: user.username,
    ...(user.uid ? { uid: user.uid } : {}),
    groups: user.groups,
    ...(Object.keys(user.extra).length > 0 ? { extra: sortKeysDeep(user.extra) } : {}),
  };
}
