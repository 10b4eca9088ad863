import { setMaxListeners } from 'node:events';
import type { Diagnostics } from '../diagnostics/diagnostics.js';
import { diagnoseReviewFailure } from '../diagnostics/review-diagnosis.js';
import { ApiserverTokenError, ApiserverUnavailableError } from '../errors.js';
import { scrubbedMessage } from '../lib/scrub.js';
import type { Logger } from '../logger.js';
import { type AttemptFailure, classifyAttemptFailure, retryAfterSeconds } from './attempt-failure.js';
import { type BackoffSettings, backoffDelay } from './backoff.js';
import { ConcurrencyLimiter, LimiterRejection } from './limiter.js';
import { type AcceptedReview, readReviewStatus, tokenReviewBody } from './review-result.js';
import { timedCall } from './timed-call.js';
import type { TokenReviewTransport } from './transport.js';

/** Resolved resilience settings (milliseconds). */
export interface ReviewClientSettings {
  timeout: number;
  retries: number;
  backoff: BackoffSettings;
  deadline: number;
  maxInFlight: number;
  maxQueued: number;
}

export interface ReviewClientHooks {
  logger?: Logger;
  diagnostics?: Diagnostics;
  now?: () => number;
  random?: () => number;
}

/**
 * Sends TokenReviews with a per-attempt timeout, retries with exponential backoff and jitter on
 * 429/500/502/503/504 and connection resets (honouring `Retry-After`), all within one overall
 * deadline, and never more than `maxInFlight` at a time towards the apiserver. It only ever
 * resolves to an accepted review; it rejects with `TokenRejectedError` (the apiserver said no)
 * or `ApiserverUnavailableError` (no verdict), never with anything else.
 */
export class TokenReviewClient {
  readonly limiter: ConcurrencyLimiter;
  readonly #transport: () => Promise<TokenReviewTransport>;
  readonly #settings: ReviewClientSettings;
  readonly #logger: Logger | undefined;
  readonly #diagnostics: Diagnostics | undefined;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #closing = new AbortController();
  /** Why the last review got no answer, until one does; for `health()`. Never holds a token. */
  lastError: string | undefined;
  /** Reviews by result (metrics): accepted, rejected (the apiserver said no), error (no verdict). */
  readonly results = { accepted: 0, rejected: 0, error: 0 };

  constructor(
    transport: () => Promise<TokenReviewTransport>,
    settings: ReviewClientSettings,
    hooks: ReviewClientHooks = {},
  ) {
    this.#transport = transport;
    this.#settings = settings;
    this.limiter = new ConcurrencyLimiter(settings.maxInFlight, settings.maxQueued);
    this.#logger = hooks.logger;
    this.#diagnostics = hooks.diagnostics;
    this.#now = hooks.now ?? Date.now;
    this.#random = hooks.random ?? Math.random;
    // Every attempt in flight and every backoff wait listens for close() and removes its listener
    // when done: many at once is normal (32 in flight by default), not a leak worth a warning.
    setMaxListeners(0, this.#closing.signal);
  }

  /** Review `token` for `audiences`; `fingerprint` only labels log lines. */
  async review(token: string, audiences: readonly string[], fingerprint?: string): Promise<AcceptedReview> {
    try {
      const accepted = await this.#review(token, audiences, fingerprint);
      this.results.accepted++;
      return accepted;
    } catch (error) {
      if (error instanceof ApiserverUnavailableError) this.results.error++;
      else this.results.rejected++;
      throw error;
    }
  }

  async #review(token: string, audiences: readonly string[], fingerprint?: string): Promise<AcceptedReview> {
    const settings = this.#settings;
    const deadlineAt = this.#now() + settings.deadline;
    const body = tokenReviewBody(token, audiences);
    let transport: TokenReviewTransport;
    try {
      transport = await this.#transport();
    } catch (error) {
      if (error instanceof ApiserverTokenError) throw error;
      // A configuration problem surfaces as unavailability per request; its message is logged.
      throw this.#unavailable(
        `TokenReview client unusable: ${scrubbedMessage(error, [token])}`,
        undefined,
        fingerprint,
        true,
      );
    }
    for (let attempt = 0; ; attempt++) {
      if (this.#closing.signal.aborted)
        throw this.#unavailable('the verifier is closed', undefined, fingerprint);
      let release: () => void;
      try {
        release = await this.limiter.acquire(deadlineAt - this.#now());
      } catch (error) {
        if (!(error instanceof LimiterRejection)) throw error;
        throw this.#unavailable(
          `${error.message} (${this.limiter.inFlight} in flight, ${this.limiter.queued} queued)`,
          undefined,
          fingerprint,
        );
      }
      let failure: AttemptFailure;
      try {
        const timeout = Math.max(1, Math.min(settings.timeout, deadlineAt - this.#now()));
        const response = await timedCall(
          (signal) => transport.create(body, signal),
          timeout,
          this.#closing.signal,
        );
        this.lastError = undefined;
        return readReviewStatus(response.status, audiences, token);
      } catch (error) {
        if (error instanceof ApiserverTokenError) throw error;
        failure = classifyAttemptFailure(error, this.#now(), 'TokenReview', [token]);
      } finally {
        release();
      }
      if (failure.misconfiguration) throw this.#unavailable(failure.reason, failure, fingerprint, true);
      if (!failure.retryable || attempt >= settings.retries) {
        throw this.#unavailable(`${failure.reason} (after ${attempt + 1} attempt(s))`, failure, fingerprint);
      }
      const delay = Math.max(
        backoffDelay(attempt, settings.backoff, this.#random),
        failure.retryAfterMs ?? 0,
      );
      if (this.#now() + delay >= deadlineAt) {
        throw this.#unavailable(
          `${failure.reason}; the next attempt (in ${Math.round(delay)} ms) would pass the ${settings.deadline} ms deadline`,
          failure,
          fingerprint,
        );
      }
      this.#logger?.debug(
        { fingerprint, attempt: attempt + 1, delayMs: Math.round(delay) },
        `apiserver-token: ${failure.reason}; retrying`,
      );
      await this.#sleep(delay);
    }
  }

  /** Abort pending waits and refuse queued reviews. */
  close(): void {
    this.#closing.abort();
    this.limiter.drain();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.#closing.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  #unavailable(
    reason: string,
    failure: AttemptFailure | undefined,
    fingerprint: string | undefined,
    loud = false,
  ): ApiserverUnavailableError {
    this.lastError = reason;
    if (loud) {
      // A deployment error: once per cause, with the fix, through the logger or a process warning.
      if (this.#diagnostics !== undefined)
        this.#diagnostics.report(diagnoseReviewFailure(reason, failure?.status));
      else this.#logger?.error({ fingerprint, status: failure?.status }, `apiserver-token: ${reason}`);
    }
    return new ApiserverUnavailableError(reason, { retryAfter: retryAfterSeconds(failure) });
  }
}
