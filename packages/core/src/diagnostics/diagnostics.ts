import { scrubUpstreamText } from '../lib/scrub.js';
import type { Logger } from '../logger.js';

/**
 * Conditions an operator must act on, as the `code` of a `process.emitWarning` (or of the log line
 * when a `logger` is given). Stable: alert on them.
 */
export type DiagnosticCode =
  /** Observe mode is on: requests that fail verification are let through. */
  | 'APISERVER_TOKEN_OBSERVE_MODE'
  /** An issuer's keys cannot be fetched or used; the cause and the fix are in the message. */
  | 'APISERVER_TOKEN_KEYS_UNAVAILABLE'
  /** The discovery document names another issuer than the one configured. */
  | 'APISERVER_TOKEN_ISSUER_MISMATCH'
  /** TokenReview (or SubjectAccessReview) calls cannot be made: client, credentials or permission. */
  | 'APISERVER_TOKEN_TOKENREVIEW'
  /** A burst of tokens not yet valid or issued in the future: this host's clock is probably off. */
  | 'APISERVER_TOKEN_CLOCK_SKEW'
  /** Signature verifications were refused at `maxVerificationsPerSecond` (503 `verification_throttled`). */
  | 'APISERVER_TOKEN_VERIFICATIONS_THROTTLED';

/** One condition: what is wrong, why, and what to do. Never holds a token. */
export interface Diagnostic {
  code: DiagnosticCode;
  /** A short stable category of the cause (`untrusted-certificate`, `forbidden`, ...): with `code` and `scope`, the dedup key. */
  cause: string;
  /** Which source it is about (a JWKS URL, `tokenreview`), so two issuers failing are two reports. */
  scope?: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  /** What to do about it. */
  fix?: string;
  /**
   * Overrides {@link DiagnosticsSettings.repeatMs} for this condition, in milliseconds: for one
   * that carries a count worth hearing about more often than every 15 minutes.
   */
  repeatMs?: number;
}

/** Internal settings; exported for tests. */
export interface DiagnosticsSettings {
  logger: Logger | undefined;
  now: () => number;
  /** A condition still present is reported again after this long, in milliseconds. Default: 15 minutes. */
  repeatMs?: number;
  /** Most reports per minute, all conditions together. Default: 10. */
  perMinute?: number;
}

interface Reported {
  at: number;
  suppressed: number;
}

/**
 * Reports operator-actionable conditions once per condition and cause — never per request — to
 * the `logger` when one is given, else through `process.emitWarning` (what Node libraries use,
 * printed once to stderr by default and observable with `process.on('warning')`). A condition
 * still present is repeated at most every `repeatMs`, with how often it recurred meanwhile; a
 * condition that clears (`resolve`) is reported afresh when it comes back.
 */
export class Diagnostics {
  readonly #settings: Required<Pick<DiagnosticsSettings, 'repeatMs' | 'perMinute'>> & DiagnosticsSettings;
  readonly #reported = new Map<string, Reported>();
  #windowStart = Number.NEGATIVE_INFINITY;
  #inWindow = 0;

  constructor(settings: DiagnosticsSettings) {
    this.#settings = { repeatMs: 15 * 60_000, perMinute: 10, ...settings };
  }

  /** Where reports go: the `diagnosticsLogger` (or `logger`) option; undefined for process warnings. */
  get logger(): Logger | undefined {
    return this.#settings.logger;
  }

  /** Reports `diagnostic` unless the same condition and cause was reported recently. True when reported. */
  report(diagnostic: Diagnostic): boolean {
    const key = `${diagnostic.code}\u0000${diagnostic.scope ?? ''}\u0000${diagnostic.cause}`;
    const now = this.#settings.now();
    const previous = this.#reported.get(key);
    const repeatMs = diagnostic.repeatMs ?? this.#settings.repeatMs;
    if (previous !== undefined && now - previous.at < repeatMs) {
      previous.suppressed++;
      return false;
    }
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.#settings.perMinute) return false;
    this.#inWindow++;
    // Bounded: conditions are few, but a scope could in theory vary; forget the oldest.
    if (this.#reported.size >= 256 && previous === undefined) {
      const oldest = this.#reported.keys().next().value as string;
      this.#reported.delete(oldest);
    }
    this.#reported.set(key, { at: now, suppressed: 0 });
    this.#emit(diagnostic, previous?.suppressed ?? 0);
    return true;
  }

  /** The condition `code` (for `scope`) has cleared: its next occurrence is reported at once. */
  resolve(code: DiagnosticCode, scope?: string): void {
    const prefix = `${code}\u0000${scope ?? ''}\u0000`;
    for (const key of this.#reported.keys()) if (key.startsWith(prefix)) this.#reported.delete(key);
  }

  #emit(diagnostic: Diagnostic, repeated: number): void {
    const { code, cause, scope, level, message, fix } = diagnostic;
    const logger = this.#settings.logger;
    // Messages quote upstream texts already scrubbed where they were read; once more here, the
    // last stop before a log line or a process warning, for anything JWT-shaped.
    const text = `apiserver-token: ${scrubUpstreamText(message)}`;
    if (logger !== undefined) {
      const object: Record<string, unknown> = { code, cause };
      if (scope !== undefined) object.scope = scope;
      if (fix !== undefined) object.fix = fix;
      if (repeated > 0) object.repeated = repeated;
      logger[level](object, text);
      return;
    }
    const suffix = repeated > 0 ? ` (${repeated} more time(s) since last reported)` : '';
    process.emitWarning(`${text}${suffix}`, {
      type: 'ApiserverTokenWarning',
      code,
      ...(fix !== undefined && { detail: `Fix: ${fix}` }),
    });
  }
}
