import type { Diagnostics } from '../diagnostics/diagnostics.js';
import { VerificationThrottledError } from '../errors.js';

/** Internal settings; exported for tests. */
export interface VerificationBudgetSettings {
  /** Tokens added per second (`maxVerificationsPerSecond`), more than 0. */
  rate: number;
  /** Most tokens held (`verificationBurst`), a whole number of at least 1. */
  burst: number;
  /** The verifier's clock, in milliseconds. */
  now: () => number;
  /** Where the warning about refusals goes; undefined in unit tests of the bucket alone. */
  diagnostics?: Diagnostics;
}

/**
 * Refusals are summed up in one warning at most this often, in milliseconds: once a minute, so
 * that a long flood takes one of the diagnostics' ten reports a minute, not six.
 */
const REPORT_EVERY_MS = 60_000;

/**
 * A token bucket bounding the signature verifications one verifier runs per second: what a flood
 * of well-formed forged tokens can cost in CPU. It starts full (`burst` tokens) and refills
 * continuously at `rate` per second on the verifier's clock; each signature check takes one, and
 * without one the token is refused with 503 `verification_throttled` and a `Retry-After` of the
 * whole seconds until one is back. A clock that steps back refills nothing, and never empties it.
 */
export class VerificationBudget {
  readonly #settings: VerificationBudgetSettings;
  #tokens: number;
  #updatedAt: number;
  #refusedSinceReport = 0;
  #reportedAt = Number.NEGATIVE_INFINITY;
  #countingSince = 0;

  constructor(settings: VerificationBudgetSettings) {
    this.#settings = settings;
    this.#tokens = settings.burst;
    this.#updatedAt = settings.now();
  }

  /** Tokens held now (fractional while refilling); for tests and health. */
  get available(): number {
    this.#refill(this.#settings.now());
    return this.#tokens;
  }

  /**
   * Takes one token for a signature check.
   *
   * @throws VerificationThrottledError when none is left.
   */
  spend(): void {
    const now = this.#settings.now();
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return;
    }
    const { rate, burst } = this.#settings;
    // Whole seconds until one token is back, at least 1: Retry-After is an integer (RFC 9110).
    const retryAfter = Math.max(1, Math.ceil((1 - this.#tokens) / rate));
    this.#refused(now);
    throw new VerificationThrottledError(
      `more signature verifications than maxVerificationsPerSecond allows (${rate}/s, burst ${burst}): refused before its signature was checked`,
      { retryAfter },
    );
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    this.#updatedAt = now;
    if (elapsed <= 0) return;
    const { rate, burst } = this.#settings;
    this.#tokens = Math.min(burst, this.#tokens + (elapsed / 1000) * rate);
  }

  /** Counts a refusal; one warning at most once a minute sums them up, never naming a token. */
  #refused(now: number): void {
    if (this.#refusedSinceReport === 0) this.#countingSince = now;
    this.#refusedSinceReport++;
    const diagnostics = this.#settings.diagnostics;
    if (diagnostics === undefined || now - this.#reportedAt < REPORT_EVERY_MS) return;
    // Tried at most once a minute, reported or not (the diagnostics' own per-minute cap may drop it):
    // a refusal costs no more than a comparison in between. A dropped count carries over.
    this.#reportedAt = now;
    const { rate, burst } = this.#settings;
    const count = this.#refusedSinceReport;
    const seconds = Math.round((now - this.#countingSince) / 1000);
    const reported = diagnostics.report({
      code: 'APISERVER_TOKEN_VERIFICATIONS_THROTTLED',
      cause: 'rate',
      level: 'warn',
      repeatMs: REPORT_EVERY_MS,
      message:
        `refused ${count} new token(s)${seconds > 0 ? ` in the last ${seconds} s` : ''} with 503 verification_throttled: ` +
        `more signature verifications were asked for than maxVerificationsPerSecond allows (${rate}/s, burst ${burst}); ` +
        'cached tokens are not affected',
      fix:
        'if these are genuine callers (many new tokens at once, e.g. after a restart), raise maxVerificationsPerSecond ' +
        '(APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND) or verificationBurst (APISERVER_TOKEN_VERIFICATION_BURST); ' +
        'if it is a flood of forged tokens, the bound is doing its job: find its source',
    });
    if (reported) this.#refusedSinceReport = 0;
  }
}
