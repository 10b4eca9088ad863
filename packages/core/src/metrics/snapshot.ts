import { METRICS, type MetricDefinition, type RequestOutcome } from './definitions.js';
import type { MetricAttributes } from './options.js';

/** One series: its labels and value. */
export interface Series {
  labels: MetricAttributes;
  value: number;
}

/** A verifier's counts and levels at one instant, read at collection (a scrape, an export). */
export interface MetricsSnapshot {
  requests: Iterable<Series>;
  cache: { entries: number; hits: number; misses: number; evictions: number };
  /** Absent in the tokenreview mode. */
  jwks?: {
    refreshes: { success: number; failure: number };
    keys: number;
    /** Milliseconds since the epoch of each remote key set's last success; undefined: none yet. */
    lastSuccessAt: readonly (number | undefined)[];
    now: number;
  };
  /** Absent in the jwks mode. */
  tokenReview?: {
    results: { accepted: number; rejected: number; error: number };
    inFlight: number;
    queued: number;
    refused: { queue_full: number; wait_timeout: number };
  };
  /** Absent without `policy.subjectAccessReview`. */
  subjectAccessReview?: { allowed: number; denied: number; error: number };
}

/** Per-request counts, written on every request when metrics are on (and never otherwise). */
export class RequestCounts {
  readonly #series = new Map<string, Series>();

  add(outcome: RequestOutcome, code: string | undefined, verifiedBy: string): void {
    const key = code === undefined ? `${outcome} ${verifiedBy}` : `${outcome} ${verifiedBy} ${code}`;
    const series = this.#series.get(key);
    if (series !== undefined) {
      series.value++;
      return;
    }
    const labels: Record<string, string> = { outcome, verified_by: verifiedBy };
    // An accepted request has no error code: the label is left out rather than set to a sentinel.
    if (code !== undefined) labels.code = code;
    this.#series.set(key, { labels: Object.freeze(labels), value: 1 });
  }

  values(): Iterable<Series> {
    return this.#series.values();
  }
}

/** How series of several verifiers sharing a registry or meter combine. */
type Combine = 'sum' | 'max' | 'min';

function series(labels: MetricAttributes, value: number): Series {
  return { labels, value };
}

const NO_LABELS: MetricAttributes = Object.freeze({});

/** The series of one metric in one snapshot. */
function read(name: string, snapshot: MetricsSnapshot): Series[] {
  const { cache, jwks, tokenReview: review, subjectAccessReview: sar } = snapshot;
  switch (name) {
    case METRICS.requests.name:
      return [...snapshot.requests];
    case METRICS.cacheEntries.name:
      return [series(NO_LABELS, cache.entries)];
    case METRICS.cacheHits.name:
      return [series(NO_LABELS, cache.hits)];
    case METRICS.cacheMisses.name:
      return [series(NO_LABELS, cache.misses)];
    case METRICS.cacheEvictions.name:
      return [series(NO_LABELS, cache.evictions)];
    case METRICS.jwksRefreshes.name:
      return jwks === undefined
        ? []
        : [
            series({ result: 'success' }, jwks.refreshes.success),
            series({ result: 'failure' }, jwks.refreshes.failure),
          ];
    case METRICS.jwksKeys.name:
      return jwks === undefined ? [] : [series(NO_LABELS, jwks.keys)];
    case METRICS.jwksAge.name:
    case METRICS.jwksLastSuccess.name: {
      if (jwks === undefined || jwks.lastSuccessAt.length === 0) return [];
      // The stalest key set is the one to alert on; one never loaded yet has no age to give.
      const times = jwks.lastSuccessAt.filter((time) => time !== undefined);
      if (times.length < jwks.lastSuccessAt.length || times.length === 0) return [];
      const oldest = Math.min(...times);
      return [series(NO_LABELS, name === METRICS.jwksAge.name ? (jwks.now - oldest) / 1000 : oldest / 1000)];
    }
    case METRICS.tokenReviews.name:
      return review === undefined
        ? []
        : [
            series({ result: 'accepted' }, review.results.accepted),
            series({ result: 'rejected' }, review.results.rejected),
            series({ result: 'error' }, review.results.error),
          ];
    case METRICS.tokenReviewsInFlight.name:
      return review === undefined ? [] : [series(NO_LABELS, review.inFlight)];
    case METRICS.tokenReviewsQueued.name:
      return review === undefined ? [] : [series(NO_LABELS, review.queued)];
    case METRICS.tokenReviewsRefused.name:
      return review === undefined
        ? []
        : [
            series({ reason: 'queue_full' }, review.refused.queue_full),
            series({ reason: 'wait_timeout' }, review.refused.wait_timeout),
          ];
    case METRICS.subjectAccessReviews.name:
      return sar === undefined
        ? []
        : [
            series({ decision: 'allowed' }, sar.allowed),
            series({ decision: 'denied' }, sar.denied),
            series({ decision: 'error' }, sar.error),
          ];
    default:
      return [];
  }
}

function combineOf(name: string): Combine {
  if (name === METRICS.jwksAge.name) return 'max';
  if (name === METRICS.jwksLastSuccess.name) return 'min';
  return 'sum';
}

function keyOf(labels: MetricAttributes): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The verifiers attached to one registry or meter, read together at collection. Counters keep
 * what detached (closed) verifiers had counted, so totals never go down.
 */
export class SourceSet {
  readonly #sources = new Set<() => MetricsSnapshot>();
  readonly #retired = new Map<string, Map<string, Series>>();

  add(source: () => MetricsSnapshot): void {
    this.#sources.add(source);
  }

  remove(source: () => MetricsSnapshot): void {
    if (!this.#sources.delete(source)) return;
    const snapshot = source();
    for (const definition of Object.values(METRICS) as MetricDefinition[]) {
      if (definition.type !== 'counter') continue;
      let retired = this.#retired.get(definition.name);
      if (retired === undefined) {
        retired = new Map();
        this.#retired.set(definition.name, retired);
      }
      for (const item of read(definition.name, snapshot)) {
        const key = keyOf(item.labels);
        const held = retired.get(key);
        retired.set(key, { labels: item.labels, value: (held?.value ?? 0) + item.value });
      }
    }
  }

  /** Every series of one metric, combined over the attached verifiers (snapshots taken once per collection). */
  collect(definition: MetricDefinition, snapshots: readonly MetricsSnapshot[] = this.snapshots()): Series[] {
    const combine = combineOf(definition.name);
    const combined = new Map<string, Series>();
    const take = (item: Series): void => {
      const key = keyOf(item.labels);
      const held = combined.get(key);
      if (held === undefined) combined.set(key, { labels: item.labels, value: item.value });
      else if (combine === 'sum') held.value += item.value;
      else if (combine === 'max') held.value = Math.max(held.value, item.value);
      else held.value = Math.min(held.value, item.value);
    };
    for (const snapshot of snapshots) for (const item of read(definition.name, snapshot)) take(item);
    for (const item of this.#retired.get(definition.name)?.values() ?? []) take(item);
    return [...combined.values()];
  }

  snapshots(): MetricsSnapshot[] {
    return [...this.#sources].map((source) => source());
  }
}
