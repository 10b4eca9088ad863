import type { PublicJwk, PublishedKey, SigningAlgorithm } from '../types.js';
import { generateSigningKey, publicJwkOf, type SigningKey } from './signing-key.js';

interface Entry {
  key: SigningKey;
  active: boolean;
  retiresAt?: number;
}

/**
 * The apiserver's service-account keys: one active signing key per algorithm, plus keys rotated
 * out but still published (and still accepted) during their overlap.
 */
export class KeySet {
  readonly #now: () => number;
  #entries: Entry[] = [];
  readonly defaultAlg: SigningAlgorithm;

  constructor(algorithms: readonly SigningAlgorithm[], now: () => number) {
    this.#now = now;
    this.defaultAlg = algorithms[0] ?? 'RS256';
    for (const alg of new Set(algorithms.length > 0 ? algorithms : ['RS256' as const])) {
      this.#entries.push({ key: generateSigningKey(alg), active: true });
    }
  }

  /** The key that signs new tokens of `alg`, created and published on first use. */
  signingKey(alg: SigningAlgorithm = this.defaultAlg): SigningKey {
    this.#prune();
    const entry = this.#entries.find((e) => e.active && e.key.alg === alg);
    if (entry) return entry.key;
    const key = generateSigningKey(alg);
    this.#entries.push({ key, active: true });
    return key;
  }

  rotate(alg: SigningAlgorithm = this.defaultAlg, overlapSeconds?: number): SigningKey {
    this.#prune();
    // A real rollout keeps one previous key: older ones of the same algorithm go now.
    this.#entries = this.#entries.filter((e) => e.key.alg !== alg || e.active);
    for (const entry of this.#entries) {
      if (entry.key.alg !== alg) continue;
      entry.active = false;
      if (overlapSeconds !== undefined) entry.retiresAt = this.#now() + overlapSeconds * 1000;
    }
    const key = generateSigningKey(alg);
    this.#entries.push({ key, active: true });
    this.#prune();
    return key;
  }

  /** Removes a published key now. Returns whether it existed. */
  drop(kid: string): boolean {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => e.key.kid !== kid);
    return this.#entries.length !== before;
  }

  /** Keys currently published and accepted. */
  published(): SigningKey[] {
    this.#prune();
    return this.#entries.map((e) => e.key);
  }

  list(): PublishedKey[] {
    this.#prune();
    return this.#entries.map((e) => ({
      kid: e.key.kid,
      alg: e.key.alg,
      active: e.active,
      ...(e.retiresAt !== undefined ? { retiresAt: e.retiresAt } : {}),
    }));
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: this.published().map(publicJwkOf) };
  }

  /**
   * `id_token_signing_alg_values_supported`: the algorithms of the published keys, sorted (kube-apiserver
   * collects them in a set and lists it sorted: `["ES256","RS256"]` for an RSA then an EC key, as recorded),
   * while the JWKS keeps the keys in flag order.
   */
  algorithms(): SigningAlgorithm[] {
    return [...new Set(this.published().map((k) => k.alg))].sort();
  }

  #prune(): void {
    const now = this.#now();
    this.#entries = this.#entries.filter((e) => e.retiresAt === undefined || e.retiresAt > now);
  }
}
