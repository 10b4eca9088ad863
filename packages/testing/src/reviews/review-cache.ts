import { createHmac, randomBytes } from 'node:crypto';
import type { UserInfo } from '../auth/users.js';

interface Entry {
  user: UserInfo;
  audiences: string[];
  expiresAt: number;
}

/**
 * kube-apiserver's TokenReview success cache (10 s by default there): a successful review is
 * replayed for the TTL even if the service account or bound object is deleted meanwhile.
 * Keys are HMACs of token and audiences, never the token itself.
 */
export class ReviewCache {
  readonly #secret = randomBytes(32);
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(ttlSeconds: number, now: () => number) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#now = now;
  }

  #key(token: string, audiences: readonly string[] | undefined): string {
    return createHmac('sha256', this.#secret)
      .update(token)
      .update('\u0000')
      .update(JSON.stringify(audiences ?? null))
      .digest('base64url');
  }

  get(token: string, audiences: readonly string[] | undefined): Entry | undefined {
    const key = this.#key(token, audiences);
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > this.#now()) return entry;
    if (entry) this.#entries.delete(key);
    return undefined;
  }

  set(token: string, audiences: readonly string[] | undefined, user: UserInfo, granted: string[]): void {
    if (this.#entries.size >= 10_000) this.#entries.clear();
    this.#entries.set(this.#key(token, audiences), {
      user,
      audiences: granted,
      expiresAt: this.#now() + this.#ttlMs,
    });
  }

  clear(): void {
    this.#entries.clear();
  }
}
