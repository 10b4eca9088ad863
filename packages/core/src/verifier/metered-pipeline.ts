import type { RequestLike } from '../contracts/verifier.js';
import type { ApiserverTokenError } from '../errors.js';
import type { ApiserverIdentity, VerifiedBy } from '../identity.js';
import type { RequestCounts } from '../metrics/snapshot.js';
import type { LatencyRecorder } from '../metrics/target.js';
import { Pipeline, type PipelineSettings } from './pipeline.js';
import { ResultCache, type ResultCacheSettings } from './result-cache.js';

const NOT_LOOKED_UP = 0;
const HIT = 1;
const MISS = 2;

/**
 * The result cache with hits, misses and evictions counted; it also tells which way the last
 * lookup went, read by {@link MeteredPipeline} right after the synchronous part of a request.
 */
export class MeteredResultCache extends ResultCache {
  hits = 0;
  misses = 0;
  evictions = 0;
  lastLookup = NOT_LOOKED_UP;

  constructor(settings: Omit<ResultCacheSettings, 'onEvict'>) {
    super({
      ...settings,
      onEvict: () => {
        this.evictions++;
      },
    });
  }

  override get(key: string): ReturnType<ResultCache['get']> {
    const entry = super.get(key);
    if (entry === undefined) {
      this.misses++;
      this.lastLookup = MISS;
    } else {
      this.hits++;
      this.lastLookup = HIT;
    }
    return entry;
  }
}

/** The pipeline's counts of a metered verifier. */
export interface MeteredPipelineSettings extends PipelineSettings {
  cache: MeteredResultCache;
  requests: RequestCounts;
  latency: LatencyRecorder;
}

/**
 * A pipeline that counts each request's outcome and times it, split by cache hit or miss. Only
 * built when metrics are on: the plain {@link Pipeline} (metrics off) has not one extra
 * instruction on its path.
 */
export class MeteredPipeline extends Pipeline {
  readonly #cache: MeteredResultCache;
  readonly #requests: RequestCounts;
  readonly #latency: LatencyRecorder;
  readonly #verifiedBy: VerifiedBy;
  readonly #enforcing: boolean;

  constructor(settings: MeteredPipelineSettings) {
    super(settings);
    this.#enforcing = settings.enforcing;
    this.#cache = settings.cache;
    this.#requests = settings.requests;
    this.#latency = settings.latency;
    this.#verifiedBy =
      settings.strategies.length === 1 ? (settings.strategies[0]?.name ?? 'hybrid') : 'hybrid';
  }

  override verifyNow(request: RequestLike): ApiserverIdentity | Promise<ApiserverIdentity> {
    const start = performance.now();
    this.#cache.lastLookup = NOT_LOOKED_UP;
    // The cache is looked up in the synchronous part of verifyNow, before any await.
    const result = super.verifyNow(request);
    return this.#settle(result, start, this.#cache.lastLookup, this.#verifiedBy);
  }

  override verifyToken(token: string, request?: RequestLike): Promise<ApiserverIdentity> {
    const start = performance.now();
    this.#cache.lastLookup = NOT_LOOKED_UP;
    const result = super.verifyToken(token, request);
    return this.#settle(
      result,
      start,
      this.#cache.lastLookup,
      this.#verifiedBy,
    ) as Promise<ApiserverIdentity>;
  }

  override authorize(
    identity: ApiserverIdentity,
    request: RequestLike | undefined,
  ): Promise<ApiserverIdentity> {
    const start = performance.now();
    return this.#settle(
      super.authorize(identity, request),
      start,
      NOT_LOOKED_UP,
      identity.verifiedBy,
    ) as Promise<ApiserverIdentity>;
  }

  /** Counts a request refused before the pipeline ran (admission body, client certificate). */
  countRejection(error: ApiserverTokenError, verifiedBy: VerifiedBy = this.#verifiedBy): void {
    // Observe mode: the HTTP layer lets every refused request through, so it is counted as such.
    const outcome = !this.#enforcing ? 'observed' : error.status === 503 ? 'unavailable' : 'rejected';
    this.#requests.add(outcome, error.code, verifiedBy);
  }

  #settle(
    result: ApiserverIdentity | Promise<ApiserverIdentity>,
    start: number,
    lookup: number,
    verifiedBy: VerifiedBy,
  ): ApiserverIdentity | Promise<ApiserverIdentity> {
    if (!(result instanceof Promise)) {
      this.#done(start, lookup);
      this.#requests.add('accepted', undefined, result.verifiedBy);
      return result;
    }
    return result.then(
      (identity) => {
        this.#done(start, lookup);
        this.#requests.add('accepted', undefined, identity.verifiedBy);
        return identity;
      },
      (error: ApiserverTokenError) => {
        this.#done(start, lookup);
        this.countRejection(error, verifiedBy);
        throw error;
      },
    );
  }

  #done(start: number, lookup: number): void {
    // A request refused before its token reached the cache (no token, a malformed header) is
    // counted but not timed: it would only blur the miss latencies.
    if (lookup === HIT) this.#latency.hit((performance.now() - start) / 1000);
    else if (lookup === MISS) this.#latency.miss((performance.now() - start) / 1000);
  }
}
