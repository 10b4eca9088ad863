import type { KeySetHealth } from '../contracts/verifier.js';
import type { Diagnostics } from '../diagnostics/diagnostics.js';
import { IssuerUnavailableError } from '../errors.js';
import { describeValue } from '../jwt/decode.js';
import type { Logger } from '../logger.js';
import { diagnoseKeyFetch } from './fetch-diagnosis.js';
import { FetchError, type FetchSettings, type JsonFetcher } from './fetch-json.js';
import { type ImportedKey, importKeySet, type SkippedKey } from './import-jwk.js';
import { reportSkippedKeys } from './report-skipped.js';

/** Where a remote key set comes from. */
export interface RemoteSource {
  /** Discovery document URL (full `.well-known` URL), when discovery is used. */
  discovery: URL | undefined;
  /** Explicit JWKS URL; when absent, the discovered `jwks_uri` is used. */
  jwksUri: URL | undefined;
  /** Issuers the discovery document may name; undefined: learn it (in-cluster, nothing configured). */
  issuers: readonly string[] | undefined;
  allowCrossOriginJwksUri: boolean;
}

/** Timing of a remote key set, in seconds. */
export interface KeySetTiming {
  cooldown: number;
  maxStale: number;
  defaultMaxAge: number;
  minMaxAge: number;
  maxMaxAge: number;
}

/** The keys of one issuer (or one shared key source). */
export interface KeySet {
  /**
   * The keys that may have signed a token with this `kid`, as kube-apiserver (1.32+) selects
   * them: those whose `kid` matches, or every key when the token has none. An unknown `kid` may
   * trigger a refetch; when that refetch cannot reach the issuer the answer is
   * `IssuerUnavailableError` (the token may be signed by a key published meanwhile), never an
   * empty list. Synchronous when the keys held answer (the usual case).
   */
  candidates(kid: string | undefined): readonly ImportedKey[] | Promise<readonly ImportedKey[]>;
  ready(): Promise<void>;
  close(): void;
  /** A snapshot for `verifier.health()`. */
  health(): KeySetHealth;
  /** For logs. */
  readonly label: string;
  /** The keys refused at the last import (weak, inconsistent or not for signatures), and why. */
  readonly skipped: readonly SkippedKey[];
  /** Usable keys held now (metrics). */
  readonly keyCount: number;
}

function indexKeys(keys: ImportedKey[]): Map<string, ImportedKey[]> {
  const byKid = new Map<string, ImportedKey[]>();
  for (const key of keys) {
    if (key.kid === undefined) continue;
    const list = byKid.get(key.kid);
    if (list === undefined) byKid.set(key.kid, [key]);
    else list.push(key);
  }
  return byKid;
}

/** A key set given in the options: no network, ever. */
export class StaticKeySet implements KeySet {
  readonly label: string;
  readonly #keys: ImportedKey[];
  readonly #byKid: Map<string, ImportedKey[]>;
  readonly skipped: readonly SkippedKey[];

  constructor(keys: ImportedKey[], label: string, skipped: readonly SkippedKey[] = []) {
    this.#keys = keys;
    this.skipped = skipped;
    this.#byKid = indexKeys(keys);
    this.label = label;
  }

  get keyCount(): number {
    return this.#keys.length;
  }

  candidates(kid: string | undefined): readonly ImportedKey[] {
    return kid === undefined ? this.#keys : (this.#byKid.get(kid) ?? []);
  }

  async ready(): Promise<void> {}
  close(): void {}
  health(): KeySetHealth {
    return {
      source: this.label,
      keys: this.#keys.length,
      ageSeconds: undefined,
      fresh: true,
      lastError: undefined,
    };
  }
}

interface HeldKeys {
  keys: ImportedKey[];
  byKid: Map<string, ImportedKey[]>;
  /** Milliseconds (verifier clock). */
  freshUntil: number;
  /** When these keys were fetched, in milliseconds (verifier clock). */
  fetchedAt: number;
}

const FIRST_BACKOFF_MS = 1000;
const MAX_RETRY_AFTER_S = 300;
const MAX_HONOURED_RETRY_AFTER_S = 60;

/**
 * Keys fetched from an issuer, kept fresh: refreshed when `max-age` runs out (in the background
 * while stale keys still serve), refetched once (coalesced, with a cooldown) when a token names
 * an unknown `kid`, and kept for at most `maxStale` past their freshness when the issuer is down.
 */
export class RemoteKeySet implements KeySet {
  readonly label: string;
  readonly #source: RemoteSource;
  readonly #fetch: FetchSettings;
  readonly #timing: KeySetTiming;
  readonly #fetcher: JsonFetcher;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #diagnostics: Diagnostics | undefined;
  readonly #onIssuer: ((issuer: string) => void) | undefined;

  #held: HeldKeys | undefined;
  #jwksUri: URL | undefined;
  #refreshing: Promise<HeldKeys> | undefined;
  /** When the next refetch may start after a failure (ms, verifier clock). */
  #retryAt = 0;
  #backoff = FIRST_BACKOFF_MS;
  #lastError: FetchError | undefined;
  /** When the last refetch triggered by an unknown `kid` started (ms). */
  #lastKidRefetch = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #discovered = false;
  #skipped: readonly SkippedKey[] = [];
  /** The skip reasons last reported, so that each refresh does not repeat the same warning. */
  #reportedSkips = '';
  #lastSuccessAt: number | undefined;
  /** Fetches by result, counted whether or not metrics are on (one increment per fetch). */
  readonly refreshes = { success: 0, failure: 0 };

  constructor(
    source: RemoteSource,
    fetch: FetchSettings,
    timing: KeySetTiming,
    fetcher: JsonFetcher,
    now: () => number,
    logger: Logger | undefined,
    diagnostics: Diagnostics | undefined,
    onIssuer?: (issuer: string) => void,
  ) {
    this.#diagnostics = diagnostics;
    this.#source = source;
    this.#fetch = fetch;
    this.#timing = timing;
    this.#fetcher = fetcher;
    this.#now = now;
    this.#logger = logger;
    this.#onIssuer = onIssuer;
    this.#jwksUri = source.jwksUri;
    this.label = (source.jwksUri ?? source.discovery)?.href ?? 'jwks';
  }

  get keyCount(): number {
    return this.#held?.keys.length ?? 0;
  }

  /** When the key set was last fetched successfully (ms, verifier clock); undefined: never. */
  get lastSuccessAt(): number | undefined {
    return this.#lastSuccessAt;
  }

  candidates(kid: string | undefined): readonly ImportedKey[] | Promise<readonly ImportedKey[]> {
    const held = this.#held;
    if (held !== undefined && this.#now() < held.freshUntil) {
      if (kid === undefined) return held.keys;
      const found = held.byKid.get(kid);
      if (found !== undefined) return found;
    }
    return this.#candidatesAfterLoad(kid);
  }

  /** {@link candidates} when the keys held are stale, missing, or do not know the `kid`. */
  async #candidatesAfterLoad(kid: string | undefined): Promise<readonly ImportedKey[]> {
    const held = await this.#usableKeys();
    if (kid === undefined) return held.keys;
    const found = held.byKid.get(kid);
    if (found !== undefined) return found;
    // An unknown kid may be a key the issuer just rotated in: one refetch, shared by every
    // request waiting on it, and no more than one per cooldown so forged kids cannot hammer it.
    // While the issuer cannot be reached, the kid may belong to a key published meanwhile: the
    // answer is 503 (kube-apiserver retries it), not a 401 it would not retry.
    let refreshed: HeldKeys;
    if (this.#refreshing !== undefined) {
      refreshed = await this.#refreshForKid(this.#refreshing);
    } else if (this.#lastError !== undefined && this.#now() < this.#retryAt) {
      // The issuer is failing and backing off (which bounds these refetches, not the cooldown).
      throw this.#unavailable();
    } else if (
      this.#lastError !== undefined ||
      this.#now() - this.#lastKidRefetch >= this.#timing.cooldown * 1000
    ) {
      this.#lastKidRefetch = this.#now();
      this.#logger?.debug({ jwks: this.label }, 'apiserver-token: unknown kid, refetching the key set');
      refreshed = await this.#refreshForKid(this.#refresh());
    } else {
      this.#logger?.debug({ jwks: this.label }, 'apiserver-token: unknown kid, refetch cooling down');
      return [];
    }
    const matched = refreshed.byKid.get(kid);
    // A refetch that found the kid was a genuine rotation: it costs no cooldown, so that a second
    // rotation soon after is picked up too. Only refetches wasted on unknown kids start one.
    if (matched !== undefined) this.#lastKidRefetch = Number.NEGATIVE_INFINITY;
    return matched ?? [];
  }

  /** A refetch for an unknown `kid`: its failure is the issuer's, whatever keys are still held. */
  async #refreshForKid(refreshing: Promise<HeldKeys>): Promise<HeldKeys> {
    try {
      return await refreshing;
    } catch {
      throw this.#unavailable();
    }
  }

  get skipped(): readonly SkippedKey[] {
    return this.#skipped;
  }

  async ready(): Promise<void> {
    if (this.#held !== undefined) return;
    // Within the backoff after a failure (also the issuer's Retry-After), answer from that failure:
    // readiness probes and in-cluster issuer learning (run for every unknown `iss`) must not turn
    // each request into a fetch from an apiserver that is already failing.
    if (this.#refreshing === undefined && this.#now() < this.#retryAt) throw this.#unavailable();
    await this.#awaitRefresh(this.#refreshing ?? this.#refresh());
  }

  health(): KeySetHealth {
    const held = this.#held;
    const now = this.#now();
    return {
      source: this.label,
      keys: held?.keys.length ?? 0,
      ageSeconds: held === undefined ? undefined : Math.max(0, Math.round((now - held.fetchedAt) / 1000)),
      fresh: held !== undefined && now < held.freshUntil,
      lastError: this.#lastError?.message,
    };
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The keys a request may use now, refreshing first when none is usable. */
  async #usableKeys(): Promise<HeldKeys> {
    const held = this.#held;
    const now = this.#now();
    if (held !== undefined && now < held.freshUntil) return held;
    if (held !== undefined && now < held.freshUntil + this.#timing.maxStale * 1000) {
      // Stale but within bounds: serve with what we hold, refresh behind the request.
      if (this.#refreshing === undefined && now >= this.#retryAt) this.#refresh().catch(() => {});
      return held;
    }
    if (this.#refreshing !== undefined) return this.#awaitRefresh(this.#refreshing);
    if (now < this.#retryAt) throw this.#unavailable();
    return this.#awaitRefresh(this.#refresh());
  }

  async #awaitRefresh(refreshing: Promise<HeldKeys>): Promise<HeldKeys> {
    try {
      return await refreshing;
    } catch {
      // Keys still within their stale bound remain usable while the issuer is failing.
      const held = this.#held;
      if (held !== undefined && this.#now() < held.freshUntil + this.#timing.maxStale * 1000) return held;
      throw this.#unavailable();
    }
  }

  #unavailable(): IssuerUnavailableError {
    const wait = Math.ceil(Math.max(this.#retryAt - this.#now(), 1000) / 1000);
    const retryAfter = Math.min(Math.max(wait, this.#lastError?.retryAfter ?? 0), MAX_RETRY_AFTER_S);
    return new IssuerUnavailableError(
      `no usable key for ${this.label}: ${this.#lastError?.message ?? 'the issuer cannot be reached'}`,
      { retryAfter, cause: this.#lastError },
    );
  }

  #refresh(): Promise<HeldKeys> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    const refreshing = this.#load().then(
      (held) => {
        this.#refreshing = undefined;
        this.#held = held;
        this.#lastSuccessAt = this.#now();
        this.refreshes.success++;
        this.#backoff = FIRST_BACKOFF_MS;
        this.#retryAt = 0;
        this.#lastError = undefined;
        this.#diagnostics?.resolve('APISERVER_TOKEN_KEYS_UNAVAILABLE', this.label);
        this.#diagnostics?.resolve('APISERVER_TOKEN_ISSUER_MISMATCH', this.label);
        this.#schedule(held.freshUntil - this.#now());
        return held;
      },
      (error: unknown) => {
        this.#refreshing = undefined;
        this.refreshes.failure++;
        const failure = error instanceof FetchError ? error : new FetchError(String(error));
        this.#lastError = failure;
        // A server's Retry-After (429/503) is honoured, within reason.
        const wait = Math.max(
          this.#backoff,
          Math.min(failure.retryAfter ?? 0, MAX_HONOURED_RETRY_AFTER_S) * 1000,
        );
        this.#retryAt = this.#now() + wait;
        this.#schedule(wait);
        this.#backoff = Math.min(this.#backoff * 2, Math.max(this.#timing.cooldown * 1000, FIRST_BACKOFF_MS));
        // Once per cause (with the fix), never per request; with a logger, through it.
        this.#diagnostics?.report(diagnoseKeyFetch(failure, this.label));
        throw failure;
      },
    );
    this.#refreshing = refreshing;
    return refreshing;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#refreshing === undefined) this.#refresh().catch(() => {});
      },
      Math.max(delayMs, FIRST_BACKOFF_MS),
    );
    this.#timer.unref();
  }

  async #load(): Promise<HeldKeys> {
    let jwksUri = this.#jwksUri;
    if (this.#source.discovery !== undefined && (!this.#discovered || jwksUri === undefined)) {
      jwksUri = await this.#discover();
      this.#discovered = true;
    }
    if (jwksUri === undefined) throw new FetchError('no JWKS location');
    let fetched: Awaited<ReturnType<JsonFetcher['fetch']>>;
    try {
      fetched = await this.#fetcher.fetch(jwksUri, this.#fetch, this.#mayReceiveCredential(jwksUri));
    } catch (error) {
      // The discovered location may have moved: discover again next time.
      if (this.#source.jwksUri === undefined) this.#jwksUri = undefined;
      throw error;
    }
    let imported: ReturnType<typeof importKeySet>;
    try {
      imported = importKeySet(fetched.body);
    } catch (error) {
      throw new FetchError(`${jwksUri.origin}${jwksUri.pathname}: ${(error as Error).message}`);
    }
    this.#skipped = imported.skipped;
    const reasons = imported.skipped.map((entry) => entry.message).join('\n');
    if (reasons !== this.#reportedSkips) {
      this.#reportedSkips = reasons;
      // With the operator diagnostics (which may go elsewhere than the verdicts: `diagnosticsLogger`).
      reportSkippedKeys(
        this.#diagnostics === undefined ? this.#logger : this.#diagnostics.logger,
        this.label,
        imported.skipped,
      );
    }
    if (imported.keys.length === 0)
      throw new FetchError(`${jwksUri.origin}${jwksUri.pathname} holds no usable key`);
    const { defaultMaxAge, minMaxAge, maxMaxAge } = this.#timing;
    const maxAge = Math.min(Math.max(fetched.maxAge ?? defaultMaxAge, minMaxAge), maxMaxAge);
    this.#logger?.debug(
      { jwks: this.label, keys: imported.keys.length, maxAge },
      'apiserver-token: key set loaded',
    );
    const now = this.#now();
    return {
      keys: imported.keys,
      byKid: indexKeys(imported.keys),
      freshUntil: now + maxAge * 1000,
      fetchedAt: now,
    };
  }

  async #discover(): Promise<URL> {
    const discovery = this.#source.discovery as URL;
    const { body } = await this.#fetcher.fetch(discovery, this.#fetch, this.#mayReceiveCredential(discovery));
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new FetchError(`${discovery.href} is not a JSON object`);
    }
    const { issuer, jwks_uri: jwksUri } = body as Record<string, unknown>;
    if (typeof issuer !== 'string' || issuer === '')
      throw new FetchError(`${discovery.href} names no issuer`);
    const expected = this.#source.issuers;
    if (expected !== undefined && !expected.includes(issuer)) {
      throw new FetchError(
        `${discovery.href} names issuer ${describeValue(issuer)}, expected ${describeValue(expected)}`,
        undefined,
        undefined,
        'ISSUER_MISMATCH',
      );
    }
    if (expected === undefined) this.#onIssuer?.(issuer);
    if (this.#source.jwksUri !== undefined) return this.#source.jwksUri;
    let url: URL;
    try {
      url = new URL(String(jwksUri));
    } catch {
      throw new FetchError(`${discovery.href} has no valid jwks_uri`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.#fetch.allowInsecureHttp)) {
      throw new FetchError(`jwks_uri ${url.origin} is not https`);
    }
    if (!this.#sameOrigin(url, [issuer]) && !this.#source.allowCrossOriginJwksUri) {
      throw new FetchError(
        `jwks_uri ${url.origin} is not on the issuer's origin; set jwks.allowCrossOriginJwksUri to allow it`,
      );
    }
    this.#jwksUri = url;
    return url;
  }

  #sameOrigin(url: URL, issuers: readonly string[] | undefined): boolean {
    if (this.#source.discovery !== undefined && url.origin === this.#source.discovery.origin) return true;
    return (issuers ?? []).some((issuer) => URL.canParse(issuer) && new URL(issuer).origin === url.origin);
  }

  /**
   * The credential goes only over https, to the discovery origin or an explicitly configured URL:
   * never to a discovered `jwks_uri` elsewhere, not even on the issuer's origin, which need not be
   * the apiserver the token was meant for (a bucket, a cloud OIDC endpoint).
   */
  #mayReceiveCredential(url: URL): boolean {
    if (url.protocol !== 'https:') return false;
    if (this.#source.jwksUri !== undefined && url.href === this.#source.jwksUri.href) return true;
    return this.#source.discovery !== undefined && url.origin === this.#source.discovery.origin;
  }
}
