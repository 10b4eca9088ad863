import { ApiserverTokenConfigError } from '../errors.js';
import { envBoolean, envNumber } from '../lib/env.js';
import { assertKnownKeys } from '../lib/known-keys.js';
import type { BackoffSettings } from './backoff.js';
import type { ReviewClientSettings } from './review-client.js';

/**
 * Backoff between TokenReview attempts: `initial * factor^n`, capped at `max`, plus up to
 * `jitter` of itself at random. A `Retry-After` from the apiserver lengthens the wait, never
 * shortens it. The defaults are Kubernetes' webhook backoff (500 ms, x1.5, 0.2 jitter).
 */
export interface TokenReviewBackoffOptions {
  /** First delay, in milliseconds. Default: `500`. */
  initial?: number;
  /** Multiplier per attempt, at least 1. Default: `1.5`. */
  factor?: number;
  /** Random fraction added to each delay, 0 to 1. Default: `0.2`. */
  jitter?: number;
  /** Longest delay before jitter, in milliseconds. Default: `5000`. */
  max?: number;
}

/**
 * How the `tokenreview` and `hybrid` modes call the apiserver's TokenReview API
 * (`authentication.k8s.io/v1`, `spec.audiences` = the configured audiences). The verifier's
 * credentials need the `system:auth-delegator` ClusterRole (or `create` on `tokenreviews`).
 */
export interface TokenReviewOptions {
  /**
   * Timeout of one TokenReview attempt, connection to last byte, in milliseconds.
   * Env: `APISERVER_TOKEN_TOKENREVIEW_TIMEOUT`. Default: `10000`.
   */
  timeout?: number;
  /**
   * Retries after the first attempt, only on HTTP 429, 500, 502, 503, 504 and connection
   * resets; never on 401/403 (our credentials are refused: a misconfiguration, logged at
   * `error`) nor on other statuses. Default: `4` (5 attempts, as Kubernetes).
   */
  retries?: number;
  /** Delays between attempts. */
  backoff?: TokenReviewBackoffOptions;
  /**
   * Longest time one review may take, queueing, attempts, backoff and `Retry-After` waits
   * included, in milliseconds; past it the request fails with 503 `apiserver_unavailable`.
   * Keep it below your webhook's `timeoutSeconds`. Default: `15000`.
   */
  deadline?: number;
  /**
   * Most TokenReviews in flight towards the apiserver at once (distinct tokens; concurrent
   * reviews of one token are coalesced into one). Env: `APISERVER_TOKEN_TOKENREVIEW_MAX_IN_FLIGHT`.
   * Default: `32`.
   */
  maxInFlight?: number;
  /**
   * Most reviews waiting for an in-flight slot; beyond it requests fail at once with 503
   * `apiserver_unavailable` and `Retry-After: 1` instead of piling up. Default: `256`.
   */
  maxQueued?: number;
  /**
   * How long an authenticated review is trusted, in seconds, never past the token's `exp`.
   * This bounds how late a revocation (deleted pod, secret, service account) is noticed, as the
   * apiserver's own 10 s cache does. In `hybrid` mode it also bounds the whole cached result.
   * Env: `APISERVER_TOKEN_TOKENREVIEW_CACHE_TTL`. Default: `10`.
   */
  cacheTtl?: number;
  /**
   * How long the apiserver's "no" (`authenticated: false`: `token_rejected`, and `revoked` in
   * `hybrid` mode) is remembered for that token, in seconds, keyed like successes: a replayed
   * rejected token then costs one TokenReview per this period, not one per request. Errors
   * (apiserver unreachable, overloaded, 503) are never cached. `0` turns it off. Kubernetes'
   * delegated authentication remembers failures as long as successes (10 s).
   * Env: `APISERVER_TOKEN_TOKENREVIEW_FAILURE_CACHE_TTL`. Default: `5`.
   */
  failureCacheTtl?: number;
  /**
   * Send tokens that are not JWTs (static tokens, bootstrap tokens, tokens of a webhook
   * authenticator) to TokenReview. Off, such tokens are rejected locally as `malformed_token`
   * without any apiserver call, so random garbage never costs an apiserver request. JWTs are
   * always pre-checked (structure, algorithm, issuer when configured, audience, expiry) before
   * being sent; legacy secret tokens also need `allowLegacyTokens`.
   * Env: `APISERVER_TOKEN_TOKENREVIEW_ALLOW_OPAQUE_TOKENS`. Default: `false`.
   */
  allowOpaqueTokens?: boolean;
}

/** Resolved settings: client ones in milliseconds, TTLs in milliseconds too. */
export interface TokenReviewSettings {
  client: ReviewClientSettings;
  cacheTtlMs: number;
  failureCacheTtlMs: number;
  allowOpaqueTokens: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

function number(
  value: unknown,
  field: string,
  fallback: number,
  { min, max, integer = false }: { min: number; max: number; integer?: boolean },
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new ApiserverTokenConfigError(
      field,
      `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const MS = { min: 1, max: 300_000 };

const TOKENREVIEW_FIELDS: readonly string[] = [
  'timeout',
  'retries',
  'backoff',
  'deadline',
  'maxInFlight',
  'maxQueued',
  'cacheTtl',
  'failureCacheTtl',
  'allowOpaqueTokens',
];

/** Validate `tokenReview` (explicit options win over `APISERVER_TOKEN_TOKENREVIEW_*`). */
export function resolveTokenReviewOptions(
  options: TokenReviewOptions | undefined,
  env: Env,
): TokenReviewSettings {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new ApiserverTokenConfigError('tokenReview', 'must be an object');
  }
  const o = options ?? {};
  assertKnownKeys(o, TOKENREVIEW_FIELDS, 'tokenReview');
  const b = o.backoff ?? {};
  if (typeof b !== 'object' || b === null)
    throw new ApiserverTokenConfigError('tokenReview.backoff', 'must be an object');
  assertKnownKeys(b, ['initial', 'factor', 'jitter', 'max'], 'tokenReview.backoff');
  const backoff: BackoffSettings = {
    initial: number(b.initial, 'tokenReview.backoff.initial', 500, { min: 0, max: 60_000 }),
    factor: number(b.factor, 'tokenReview.backoff.factor', 1.5, { min: 1, max: 10 }),
    jitter: number(b.jitter, 'tokenReview.backoff.jitter', 0.2, { min: 0, max: 1 }),
    max: number(b.max, 'tokenReview.backoff.max', 5000, { min: 0, max: 300_000 }),
  };
  const client: ReviewClientSettings = {
    timeout: number(o.timeout ?? envNumber(env, 'TOKENREVIEW_TIMEOUT'), 'tokenReview.timeout', 10_000, MS),
    retries: number(o.retries, 'tokenReview.retries', 4, { min: 0, max: 20, integer: true }),
    backoff,
    deadline: number(o.deadline, 'tokenReview.deadline', 15_000, MS),
    maxInFlight: number(
      o.maxInFlight ?? envNumber(env, 'TOKENREVIEW_MAX_IN_FLIGHT'),
      'tokenReview.maxInFlight',
      32,
      {
        min: 1,
        max: 10_000,
        integer: true,
      },
    ),
    maxQueued: number(o.maxQueued, 'tokenReview.maxQueued', 256, { min: 0, max: 1_000_000, integer: true }),
  };
  const cacheTtl = number(o.cacheTtl ?? envNumber(env, 'TOKENREVIEW_CACHE_TTL'), 'tokenReview.cacheTtl', 10, {
    min: 0,
    max: 86_400,
  });
  const failureCacheTtl = number(
    o.failureCacheTtl ?? envNumber(env, 'TOKENREVIEW_FAILURE_CACHE_TTL'),
    'tokenReview.failureCacheTtl',
    5,
    { min: 0, max: 3600 },
  );
  const allowOpaqueTokens =
    o.allowOpaqueTokens ?? envBoolean(env, 'TOKENREVIEW_ALLOW_OPAQUE_TOKENS') ?? false;
  if (typeof allowOpaqueTokens !== 'boolean') {
    throw new ApiserverTokenConfigError('tokenReview.allowOpaqueTokens', 'must be true or false');
  }
  return {
    client,
    cacheTtlMs: cacheTtl * 1000,
    failureCacheTtlMs: failureCacheTtl * 1000,
    allowOpaqueTokens,
  };
}
