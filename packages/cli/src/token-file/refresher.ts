import { readFile } from 'node:fs/promises';
import { tokenFingerprint } from '@apiserver-token/core';
import { writeFileAtomic } from './atomic-write.js';
import { TokenRequestError, type TokenRequester, type WebhookBinding } from './token-request-types.js';
import { type UsableToken, usableToken } from './validate-token.js';

/** One file to keep fresh, and the audience of its token. */
export interface TokenFileTarget {
  audience: string;
  out: string;
}

/** A structured log entry; never holds a token, only its fingerprint. */
export type LogEntry = { level: 'info' | 'warn' | 'error'; event: string } & Record<string, unknown>;

/** Options of {@link TokenFileRefresher}. */
export interface RefresherOptions {
  namespace: string;
  serviceAccount: string;
  targets: TokenFileTarget[];
  /** Requested lifetime, in seconds (600 for a KEP-6060 binding). */
  expirationSeconds: number;
  binding?: WebhookBinding;
  requestToken: TokenRequester;
  /** Consecutive failures of one file after which the refresher gives up; 0: never. */
  maxFailures: number;
  /** First retry delay and cap of the exponential backoff, in ms. */
  backoff: { initialMs: number; maxMs: number };
  /** Renew at this fraction of the lifetime. Default 0.8. */
  renewAt?: number;
  /** Renewal is moved earlier by up to this fraction of the lifetime, at random. Default 0.1. */
  jitter?: number;
  log: (entry: LogEntry) => void;
  now?: () => number;
  /** Waits `ms`, or less when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** The state of one file, for /healthz and /metrics. */
export interface TargetStatus {
  out: string;
  audience: string;
  /** The token the file holds, when it is one we wrote or checked. */
  current?: { fingerprint: string; issuedAt: number; expiresAt: number };
  /** When the next renewal is due (ms since the epoch). */
  renewAt?: number;
  consecutiveFailures: number;
  renewals: number;
  failures: number;
  lastError?: string;
  lastSuccessAt?: number;
}

/** How a run ended. */
export type RefresherOutcome =
  | { result: 'stopped' }
  | { result: 'done' }
  | {
      result: 'failed';
      reason: 'gave-up' | 'expired-unrenewed' | 'refused' | 'once-failed';
      message: string;
    };

class Fatal extends Error {
  constructor(
    readonly reason: 'gave-up' | 'expired-unrenewed' | 'refused',
    message: string,
  ) {
    super(message);
  }
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Keeps token files fresh through the TokenRequest API: renews each at ~80 % of its lifetime
 * (with jitter, so that several refreshers do not ask together), writes atomically, never
 * replaces a good token by an empty or invalid one, retries with exponential backoff and jitter
 * while the held token is valid, and stops with a failure after `maxFailures` consecutive
 * failures or once a held token expired unrenewed.
 */
export class TokenFileRefresher {
  readonly #options: RefresherOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #states: TargetStatus[];
  readonly #tokens = new Map<string, UsableToken>();

  constructor(options: RefresherOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#states = options.targets.map((target) => ({
      ...target,
      consecutiveFailures: 0,
      renewals: 0,
      failures: 0,
    }));
  }

  /** A snapshot of every file's state. */
  status(): TargetStatus[] {
    return this.#states.map((state) => ({
      ...state,
      ...(state.current ? { current: { ...state.current } } : {}),
    }));
  }

  /** Whether every file holds a token that has not expired. */
  healthy(): boolean {
    const now = this.#now();
    return this.#states.every((state) => state.current !== undefined && state.current.expiresAt > now);
  }

  /** Runs until `signal` aborts (outcome `stopped`) or a file cannot be kept fresh (`failed`). */
  async run(signal: AbortSignal): Promise<RefresherOutcome> {
    const inner = new AbortController();
    const stop = () => inner.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.all(
        this.#states.map((state) =>
          this.#loop(state, inner.signal).catch((error: unknown) => {
            inner.abort(); // one file failing ends the process: the others' owner must notice
            throw error;
          }),
        ),
      );
      return { result: 'stopped' };
    } catch (error) {
      if (error instanceof Fatal) return { result: 'failed', reason: error.reason, message: error.message };
      throw error;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /**
   * One pass for cron/systemd timers: renews every file whose token is missing, invalid or due
   * (all of them with `force`), one attempt each.
   */
  async once(force = false): Promise<RefresherOutcome> {
    const failed: string[] = [];
    for (const state of this.#states) {
      await this.#adopt(state);
      if (!force && state.current && state.renewAt !== undefined && this.#now() < state.renewAt) {
        this.#options.log({
          level: 'info',
          event: 'fresh',
          file: state.out,
          fingerprint: state.current.fingerprint,
          expiresAt: new Date(state.current.expiresAt).toISOString(),
          renewAt: new Date(state.renewAt).toISOString(),
        });
        continue;
      }
      try {
        await this.#renew(state);
      } catch (error) {
        if (!(error instanceof Fatal || error instanceof Failure)) throw error;
        failed.push(`${state.out}: ${error.message}`);
      }
    }
    return failed.length === 0
      ? { result: 'done' }
      : { result: 'failed', reason: 'once-failed', message: failed.join('; ') };
  }

  #renewTime(token: UsableToken): number {
    const lifetime = token.expiresAt - token.issuedAt;
    const at = this.#options.renewAt ?? 0.8;
    const jitter = this.#options.jitter ?? 0.1;
    return token.issuedAt + lifetime * at - lifetime * jitter * this.#random();
  }

  #hold(state: TargetStatus, token: UsableToken): void {
    this.#tokens.set(state.out, token);
    state.current = {
      fingerprint: tokenFingerprint(token.token),
      issuedAt: token.issuedAt,
      expiresAt: token.expiresAt,
    };
    state.renewAt = this.#renewTime(token);
  }

  /** Takes over a still-valid token already in the file (a restart must not cost a renewal). */
  async #adopt(state: TargetStatus): Promise<void> {
    let text: string;
    try {
      text = await readFile(state.out, 'utf8');
    } catch {
      return;
    }
    try {
      const token = usableToken(text.trim(), {
        audience: state.audience,
        now: this.#now(),
        ...(this.#options.binding ? { binding: this.#options.binding } : {}),
      });
      this.#hold(state, token);
      this.#options.log({
        level: 'info',
        event: 'adopted',
        file: state.out,
        fingerprint: state.current!.fingerprint,
        expiresAt: new Date(token.expiresAt).toISOString(),
      });
    } catch (error) {
      this.#options.log({
        level: 'info',
        event: 'replacing',
        file: state.out,
        reason: `the file holds no usable token: ${(error as Error).message}`,
      });
    }
  }

  /** One TokenRequest, checked and written. Throws Failure (retryable) or Fatal. */
  async #renew(state: TargetStatus): Promise<void> {
    const { namespace, serviceAccount, expirationSeconds, binding } = this.#options;
    let token: UsableToken;
    try {
      const issued = await this.#options.requestToken({
        namespace,
        serviceAccount,
        audience: state.audience,
        expirationSeconds,
        ...(binding ? { binding } : {}),
      });
      token = usableToken(issued.token, {
        audience: state.audience,
        now: this.#now(),
        ...(binding ? { binding } : {}),
      });
      const { ownerChanged } = await writeFileAtomic(state.out, token.token);
      if (ownerChanged) {
        this.#options.log({
          level: 'warn',
          event: 'owner-changed',
          file: state.out,
          reason: 'not allowed to keep the previous owner (not root): the file now belongs to this process',
        });
      }
    } catch (error) {
      state.failures += 1;
      state.consecutiveFailures += 1;
      state.lastError = (error as Error).message;
      const permanent = error instanceof TokenRequestError && error.permanent;
      this.#options.log({
        level: 'error',
        event: 'renewal-failed',
        file: state.out,
        audience: state.audience,
        error: state.lastError,
        ...(error instanceof TokenRequestError && error.status !== undefined ? { status: error.status } : {}),
        consecutiveFailures: state.consecutiveFailures,
        keeping: state.current ? state.current.fingerprint : null,
      });
      if (permanent) throw new Fatal('refused', state.lastError);
      throw new Failure(state.lastError);
    }
    this.#hold(state, token);
    state.renewals += 1;
    state.consecutiveFailures = 0;
    state.lastSuccessAt = this.#now();
    delete state.lastError;
    this.#options.log({
      level: 'info',
      event: 'renewed',
      file: state.out,
      audience: state.audience,
      fingerprint: state.current!.fingerprint,
      expiresAt: new Date(token.expiresAt).toISOString(),
      renewAt: new Date(state.renewAt!).toISOString(),
    });
  }

  #backoff(failures: number): number {
    const { initialMs, maxMs } = this.#options.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
    // "Equal jitter": between half and all of the exponential delay.
    return base / 2 + (base / 2) * this.#random();
  }

  async #loop(state: TargetStatus, signal: AbortSignal): Promise<void> {
    await this.#adopt(state);
    while (!signal.aborted) {
      const now = this.#now();
      if (state.current === undefined || state.renewAt === undefined || now >= state.renewAt) {
        try {
          await this.#renew(state);
        } catch (error) {
          if (!(error instanceof Failure)) throw error;
          const { maxFailures } = this.#options;
          if (maxFailures > 0 && state.consecutiveFailures >= maxFailures) {
            this.#options.log({
              level: 'error',
              event: 'gave-up',
              file: state.out,
              consecutiveFailures: state.consecutiveFailures,
            });
            throw new Fatal(
              'gave-up',
              `${state.out}: ${state.consecutiveFailures} consecutive failures: ${error.message}`,
            );
          }
          const after = this.#now();
          if (state.current && after >= state.current.expiresAt) {
            this.#options.log({
              level: 'error',
              event: 'expired-unrenewed',
              file: state.out,
              fingerprint: state.current.fingerprint,
              expiredAt: new Date(state.current.expiresAt).toISOString(),
            });
            throw new Fatal(
              'expired-unrenewed',
              `${state.out}: the token expired at ${new Date(state.current.expiresAt).toISOString()} and could not be renewed: ${error.message}`,
            );
          }
          let delay = this.#backoff(state.consecutiveFailures);
          // Never sleep past the held token's expiry: that is when the process must say so.
          if (state.current) delay = Math.min(delay, state.current.expiresAt - after);
          this.#options.log({ level: 'info', event: 'retrying', file: state.out, inMs: Math.round(delay) });
          await this.#sleep(delay, signal);
          continue;
        }
      }
      await this.#sleep(Math.max(0, state.renewAt! - this.#now()), signal);
    }
  }
}

/** A retryable failure of one renewal. */
class Failure extends Error {}
