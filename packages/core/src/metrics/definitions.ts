/** How a request ended, the `outcome` label of `apiserver_token_requests_total`. */
export type RequestOutcome = 'accepted' | 'rejected' | 'unavailable' | 'observed';

/**
 * The one set of instruments, whatever the backend. Names follow the Prometheus conventions:
 * `apiserver_token_` prefix, the unit in the name, `_total` on counters. Every label takes a
 * few enumerated values only.
 */
export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labels: readonly string[];
  /** OpenTelemetry unit (UCUM). */
  readonly unit?: string;
}

function define<T extends MetricDefinition>(definition: T): T {
  return definition;
}

/**
 * Upper bounds of the latency buckets, in seconds: a cache hit takes microseconds, a miss tens
 * of microseconds (local signature) to seconds (a TokenReview under load).
 */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 0.5, 1, 2.5, 5, 10,
]);

export const METRICS = Object.freeze({
  requests: define({
    name: 'apiserver_token_requests_total',
    help: 'Requests verified, by outcome (accepted, rejected, unavailable, observed), error code and how the identity was established (verified_by).',
    type: 'counter',
    labels: ['outcome', 'code', 'verified_by'],
  }),
  duration: define({
    name: 'apiserver_token_verification_duration_seconds',
    help: 'Time to verify a request (token and policy), by whether its token was in the verified-result cache (cache="hit"/"miss").',
    type: 'histogram',
    labels: ['cache'],
    unit: 's',
  }),
  cacheEntries: define({
    name: 'apiserver_token_cache_entries',
    help: 'Entries in the verified-result cache.',
    type: 'gauge',
    labels: [],
  }),
  cacheHits: define({
    name: 'apiserver_token_cache_hits_total',
    help: 'Tokens found in the verified-result cache.',
    type: 'counter',
    labels: [],
  }),
  cacheMisses: define({
    name: 'apiserver_token_cache_misses_total',
    help: 'Tokens not found in the verified-result cache (then verified).',
    type: 'counter',
    labels: [],
  }),
  cacheEvictions: define({
    name: 'apiserver_token_cache_evictions_total',
    help: 'Entries evicted from the verified-result cache to make room (cache.max reached).',
    type: 'counter',
    labels: [],
  }),
  jwksRefreshes: define({
    name: 'apiserver_token_jwks_refreshes_total',
    help: 'Fetches of remote key sets (JWKS), by result (success, failure).',
    type: 'counter',
    labels: ['result'],
  }),
  jwksKeys: define({
    name: 'apiserver_token_jwks_keys',
    help: 'Usable public keys held, over every key set.',
    type: 'gauge',
    labels: [],
  }),
  jwksAge: define({
    name: 'apiserver_token_jwks_age_seconds',
    help: 'Age of the oldest remote key set held: seconds since it was last fetched successfully.',
    type: 'gauge',
    labels: [],
    unit: 's',
  }),
  jwksLastSuccess: define({
    name: 'apiserver_token_jwks_last_success_timestamp_seconds',
    help: 'When the least recently refreshed remote key set was last fetched successfully (Unix time, seconds).',
    type: 'gauge',
    labels: [],
    unit: 's',
  }),
  tokenReviews: define({
    name: 'apiserver_token_tokenreviews_total',
    help: 'TokenReviews asked of the apiserver, by result (accepted, rejected: the apiserver said no, error: no verdict).',
    type: 'counter',
    labels: ['result'],
  }),
  tokenReviewsInFlight: define({
    name: 'apiserver_token_tokenreviews_in_flight',
    help: 'TokenReview calls in flight towards the apiserver.',
    type: 'gauge',
    labels: [],
  }),
  tokenReviewsQueued: define({
    name: 'apiserver_token_tokenreviews_queued',
    help: 'TokenReviews waiting for a slot (tokenReview.maxInFlight reached).',
    type: 'gauge',
    labels: [],
  }),
  tokenReviewsRefused: define({
    name: 'apiserver_token_tokenreviews_refused_total',
    help: 'TokenReviews refused at the concurrency cap, by reason (queue_full, wait_timeout); each is a 503 apiserver_unavailable.',
    type: 'counter',
    labels: ['reason'],
  }),
  subjectAccessReviews: define({
    name: 'apiserver_token_subjectaccessreviews_total',
    help: 'SubjectAccessReviews asked of the apiserver, by decision (allowed, denied, error).',
    type: 'counter',
    labels: ['decision'],
  }),
});

/** Every metric name the verifier can export. */
export const METRIC_NAMES: readonly string[] = Object.freeze(
  Object.values(METRICS).map((metric) => metric.name),
);
