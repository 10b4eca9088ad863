import type { Diagnostics } from './diagnostics.js';

/** Codes that only a token signed by its issuer can reach (time claims are checked after the signature). */
const FUTURE_CODES: ReadonlySet<string> = new Set(['not_yet_valid', 'issued_in_future']);

/** Internal settings; exported for tests. */
export interface ClockSkewSettings {
  diagnostics: Diagnostics;
  now: () => number;
  /** Rejections within {@link ClockSkewSettings.windowMs} that make a burst. Default: 3. */
  threshold?: number;
  /** In milliseconds. Default: 5 minutes. */
  windowMs?: number;
}

/**
 * Watches for a burst of genuinely signed tokens refused as not yet valid or issued in the future:
 * kube-apiserver never mints such tokens, so their issuer's clock and ours disagree by more than
 * `clockTolerance`. One such token could be a fluke (a token minted ahead on purpose); several in a
 * few minutes are a clock to fix, reported through {@link Diagnostics} (rate-limited there).
 */
export class ClockSkewWatch {
  readonly #settings: Required<ClockSkewSettings>;
  #times: number[] = [];

  constructor(settings: ClockSkewSettings) {
    this.#settings = { threshold: 3, windowMs: 5 * 60_000, ...settings };
  }

  /** Called with every verification failure; only `not_yet_valid` and `issued_in_future` count. */
  observe(error: { code: string; message: string }): void {
    if (!FUTURE_CODES.has(error.code)) return;
    const { now, threshold, windowMs, diagnostics } = this.#settings;
    const at = now();
    // Bounded: never more than `threshold` timestamps are kept.
    this.#times = this.#times.filter((time) => at - time < windowMs);
    this.#times.push(at);
    if (this.#times.length > threshold) this.#times.shift();
    if (this.#times.length < threshold) return;
    diagnostics.report({
      code: 'APISERVER_TOKEN_CLOCK_SKEW',
      cause: 'future-tokens',
      level: 'warn',
      message:
        `${threshold} or more validly signed tokens within ${Math.round(windowMs / 60_000)} min were not yet valid ` +
        `or issued in the future (latest: ${error.message}): the clock of this host or of the apiserver is probably off`,
      fix:
        'check time synchronisation (NTP: chrony, systemd-timesyncd) on the node running this webhook and on the ' +
        'control-plane nodes; `clockTolerance` (default 60 s) only hides a small skew',
    });
  }
}
