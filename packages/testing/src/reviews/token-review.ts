import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import type { UserInfo } from '../auth/users.js';
import { isObject, isString, isStringList, objectFields, type ResourceType } from '../http/decode.js';
import { decodeTokenReview } from '../http/protobuf.js';
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
  nullCreationTimestamp: boolean;
}

export type ReviewAnswer = { status: number; body: Record<string, unknown> | KubernetesStatus };

const API_VERSION = 'authentication.k8s.io/v1';

/** What the kit decodes a TokenReview body as (Go field types for the 400 wording). */
export const TOKEN_REVIEW_TYPE: ResourceType = {
  kind: 'TokenReview',
  group: 'authentication.k8s.io',
  version: 'v1',
  internalPackage: 'authentication',
  protobuf: decodeTokenReview,
  known: objectFields({
    spec: { token: true, audiences: true },
    status: {
      authenticated: true,
      user: { username: true, uid: true, groups: true, extra: true },
      audiences: true,
      error: true,
    },
  }),
  fields: [
    { path: ['spec'], goField: 'TokenReview', goType: 'v1.TokenReviewSpec', accepts: isObject },
    { path: ['spec', 'token'], goField: 'TokenReviewSpec', goType: 'string', accepts: isString },
    { path: ['spec', 'audiences'], goField: 'TokenReviewSpec', goType: '[]string', accepts: isStringList },
  ],
};

/** `POST /apis/authentication.k8s.io/v1/tokenreviews`, after the caller was allowed and the body decoded. */
export function reviewToken(
  request: Record<string, unknown>,
  manager: string,
  ctx: TokenReviewContext,
): ReviewAnswer {
  const s = (request.spec ?? {}) as { token?: string; audiences?: string[] | null };
  if (typeof s.token !== 'string' || s.token.length === 0) {
    return { status: 400, body: badRequestStatus('token is required for TokenReview in authentication') };
  }
  const sent = (s.audiences as string[] | null | undefined) ?? [];
  // The apiserver's bearer-token handling trims the token: a trailing newline still authenticates.
  const token = s.token.trim();
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

  const echoedSpec: Record<string, unknown> = {
    token: s.token,
    ...(sent.length > 0 ? { audiences: sent } : {}),
  };
  const status: Record<string, unknown> = outcome.ok
    ? { authenticated: true, user: userJson(outcome.user), audiences: outcome.audiences }
    : { user: {}, error: outcome.error ?? 'invalid bearer token' };
  return {
    status: 201,
    body: {
      kind: 'TokenReview',
      apiVersion: API_VERSION,
      metadata: reviewMetadata(API_VERSION, echoedSpec, manager, ctx.now(), ctx.nullCreationTimestamp),
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
