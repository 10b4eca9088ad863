import { createHmac, hash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ApiserverTokenError } from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';

/** The codes of a TokenReview's "no": what `tokenReview.failureCacheTtl` keeps. */
const APISERVER_VERDICTS: ReadonlySet<string> = new Set(['token_rejected', 'revoked']);

// One random key per process: cache keys are useless outside it and never reveal a token.
const PROCESS_KEY = randomBytes(32);

interface Entry {
  identity: ApiserverIdentity | undefined;
  error: ApiserverTokenError | undefined;
  /** Fingerprint of the token, computed once per entry. */
  fingerprint: string;
  /** Milliseconds, verifier clock. */
  expiresAt: number;
}

/** Settings of {@link ResultCache}, in milliseconds. */
export interface ResultCacheSettings {
  max: number;
  ttlMs: number;
  /** Life of a cached local rejection (a bad signature, an expired token). */
  failureTtlMs: number;
  /**
   * Life of a cached rejection by the apiserver (`token_rejected`, `revoked`): a replay then
   * costs no TokenReview. Default: `0`.
   */
  reviewFailureTtlMs?: number;
  audiences: readonly string[];
  now: () => number;
  /** Called when an entry is evicted to make room (metrics); absent, no eviction callback at all. */
  onEvict?: () => void;
}

/**
 * Verified results keyed by SHA-256(secret ‖ token), the secret an HMAC of the audiences under a
 * random per-process key: bounded in entries,
 * each living no longer than the configured TTL nor past the token's `exp`.
 */
export class ResultCache {
  readonly #lru: LRUCache<string, Entry> | undefined;
  /** 64 hex characters: fixed length, so no secret/token split is ambiguous. */
  readonly #prefix: string;
  readonly #settings: ResultCacheSettings;

  constructor(settings: ResultCacheSettings) {
    this.#settings = settings;
    const onEvict = settings.onEvict;
    this.#lru =
      settings.max <= 0
        ? undefined
        : onEvict === undefined
          ? new LRUCache<string, Entry>({ max: settings.max })
          : new LRUCache<string, Entry>({
              max: settings.max,
              disposeAfter: (_value, _key, reason) => {
                if (reason === 'evict') onEvict();
              },
            });
    // Binding the audiences into the key: an entry made for one audience set never answers another.
    this.#prefix = createHmac('sha256', PROCESS_KEY)
      .update(JSON.stringify([...settings.audiences].sort()))
      .digest('hex');
  }

  /**
   * The cache key of a token: a keyed hash, never the token. A secret-prefixed SHA-256 rather
   * than an HMAC: one call instead of an HMAC context per request (about half the cost, and the
   * cached path's largest), and length extension is moot for a key that never leaves the process.
   */
  keyOf(token: string): string {
    return hash('sha256', this.#prefix + token, 'base64');
  }

  /** A live entry, or undefined. */
  get(key: string): Entry | undefined {
    const lru = this.#lru;
    if (lru === undefined) return undefined;
    const entry = lru.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#settings.now()) {
      lru.delete(key);
      return undefined;
    }
    return entry;
  }

  setIdentity(key: string, identity: ApiserverIdentity): void {
    if (this.#lru === undefined) return;
    const now = this.#settings.now();
    let expiresAt = now + this.#settings.ttlMs;
    // An Invalid Date (NaN) must not make the entry immortal: only a real `exp` shortens the TTL.
    const exp = identity.expiresAt?.getTime();
    if (exp !== undefined && Number.isFinite(exp)) expiresAt = Math.min(expiresAt, exp);
    if (expiresAt <= now) return;
    this.#lru.set(key, { identity, error: undefined, fingerprint: identity.tokenFingerprint, expiresAt });
  }

  /**
   * Caches a rejection for its TTL: the apiserver's verdicts for `reviewFailureTtlMs`, local ones
   * for `failureTtlMs`. 503s (no verdict: issuer or apiserver unreachable) are never cached.
   */
  setError(key: string, error: ApiserverTokenError, fingerprint: string): void {
    if (this.#lru === undefined || error.status === 503) return;
    const ttl = APISERVER_VERDICTS.has(error.code)
      ? (this.#settings.reviewFailureTtlMs ?? 0)
      : this.#settings.failureTtlMs;
    if (ttl <= 0) return;
    const now = this.#settings.now();
    // Rejections come from whoever sends tokens (in tokenreview mode every well-formed forgery
    // earns one): a rejection takes free room or the place of another rejection or of an expired
    // entry, never that of a live verified token, which a flood would otherwise push out.
    if (this.#lru.size >= this.#settings.max && !this.#replaceable(this.#lru, now)) return;
    this.#lru.set(key, { identity: undefined, error, fingerprint, expiresAt: now + ttl });
  }

  /** True when the entry a new one would evict (the least recently used) is a rejection or expired. */
  #replaceable(lru: LRUCache<string, Entry>, now: number): boolean {
    const { value: oldest } = lru.rkeys().next();
    if (oldest === undefined) return true;
    const entry = lru.peek(oldest);
    return entry === undefined || entry.identity === undefined || entry.expiresAt <= now;
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  clear(): void {
    this.#lru?.clear();
  }
}
