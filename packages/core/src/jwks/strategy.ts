import type { StrategyContext, TokenStrategy } from '../contracts/verifier.js';
import {
  type ApiserverTokenError,
  InvalidSignatureError,
  UnknownIssuerError,
  UnknownKeyError,
} from '../errors.js';
import {
  identityFromClaims,
  identityFromLegacyClaims,
  type VerifiedIdentity,
} from '../identity/kubernetes-claims.js';
import { describeValue } from '../jwt/decode.js';
import { type PrecheckedToken, type PrecheckSettings, precheck } from '../jwt/precheck.js';
import { keyFitsAlgorithm, verifySignature } from '../jwt/signature.js';
import { checkTimeClaims } from '../jwt/time-claims.js';
import type { Logger } from '../logger.js';
import type { JwsAlgorithm } from '../options.js';
import type { ImportedKey } from './import-jwk.js';
import type { KeySet } from './key-set.js';
import type { VerificationBudget } from './verification-budget.js';

/** What the jwks strategy needs; `issuers` and `keySetsByIssuer` grow when an issuer is learned. */
export interface JwksStrategySettings {
  precheck: PrecheckSettings & { issuers: Set<string> };
  keySetsByIssuer: Map<string, KeySet>;
  keySets: KeySet[];
  /** Key sets whose issuer is still to be learned by discovery (in-cluster). */
  learning: KeySet[];
  /**
   * Issuers whose keys may verify a legacy secret-based token (when allowed); undefined: every
   * configured issuer (there is at most one).
   */
  legacyIssuers: readonly string[] | undefined;
  now: () => number;
  logger: Logger | undefined;
  /** `maxVerificationsPerSecond`: one token per signature check; undefined when unbounded. */
  budget?: VerificationBudget | undefined;
}

/**
 * Why no key among `keys` (the candidates for the token's `kid`) verifies its signature, or
 * undefined when one does. The token's `kid` alone selects keys, as kube-apiserver 1.32+ does:
 * a key with another id is never tried, even when no key has this one.
 */
function signatureFailure(
  t: PrecheckedToken,
  keys: readonly ImportedKey[],
  budget: VerificationBudget | undefined,
): InvalidSignatureError | UnknownKeyError | undefined {
  const alg = t.alg as JwsAlgorithm;
  let fitting = 0;
  for (const { key, alg: keyAlg } of keys) {
    if ((keyAlg !== undefined && keyAlg !== alg) || !keyFitsAlgorithm(key, alg)) continue;
    fitting++;
    // Right before the CPU is spent, once per key tried: everything cheaper has had its say
    // (pre-check, policy on the unverified account, the cache). Throws when the budget is empty.
    budget?.spend();
    if (verifySignature(alg, key, t.signingInput, t.signature)) return undefined;
  }
  const kid = describeValue(t.kid ?? null);
  if (keys.length === 0) return new UnknownKeyError(`no key with kid ${kid}, even after a refetch`);
  if (fitting === 0) return new InvalidSignatureError(`no key with kid ${kid} fits ${alg}`);
  return new InvalidSignatureError('the signature does not verify');
}

/** Verifies a token's signature against its issuer's JWKS, then its time claims, then reads the identity. */
export class JwksStrategy implements TokenStrategy {
  readonly name = 'jwks' as const;
  readonly #settings: JwksStrategySettings;
  #learning: Promise<void> | undefined;

  constructor(settings: JwksStrategySettings) {
    this.#settings = settings;
  }

  /** The unverified pre-check, waiting for an issuer still being learned when the token's is unknown. */
  precheck = (token: string): PrecheckedToken | Promise<PrecheckedToken> => {
    const settings = this.#settings;
    try {
      return precheck(token, settings.precheck, settings.now() / 1000);
    } catch (error) {
      if (!(error instanceof UnknownIssuerError) || settings.learning.length === 0) throw error;
      return this.#learn().then(() => precheck(token, settings.precheck, settings.now() / 1000));
    }
  };

  #learn(): Promise<void> {
    this.#learning ??= Promise.all(this.#settings.learning.map((set) => set.ready())).then(
      () => {
        this.#learning = undefined;
        this.#settings.learning.length = 0;
      },
      (error: unknown) => {
        this.#learning = undefined;
        throw error;
      },
    );
    return this.#learning;
  }

  async verify(token: string, context?: StrategyContext): Promise<VerifiedIdentity> {
    return this.verifyNow(token, context);
  }

  /**
   * Synchronous while the token's issuer is known and its keys are held (every miss but the first
   * after a key rotation): a miss then costs no promise and no microtask hop. Throws an
   * `ApiserverTokenError` synchronously in that case; otherwise returns a promise.
   */
  verifyNow(token: string, context?: StrategyContext): VerifiedIdentity | Promise<VerifiedIdentity> {
    const t = context?.prechecked ?? this.precheck(token);
    return t instanceof Promise ? t.then((held) => this.#verifyPrechecked(held)) : this.#verifyPrechecked(t);
  }

  #verifyPrechecked(t: PrecheckedToken): VerifiedIdentity | Promise<VerifiedIdentity> {
    const settings = this.#settings;
    if (t.legacy) {
      return this.#verifyLegacy(t).then((signingIssuer) => {
        checkTimeClaims(t.claims, settings.now() / 1000, settings.precheck.clockTolerance, false);
        settings.logger?.warn(
          { issuer: signingIssuer },
          'apiserver-token: accepted a legacy secret-based token (allowLegacyTokens): migrate its caller to bound tokens',
        );
        return { ...identityFromLegacyClaims(t.claims, t.issuer), signingIssuer };
      });
    }
    const set = settings.keySetsByIssuer.get(t.issuer);
    if (set === undefined) throw new UnknownIssuerError(`issuer ${describeValue(t.issuer)} has no key set`);
    const keys = set.candidates(t.kid);
    return keys instanceof Promise
      ? keys.then((held) => this.#verifyWith(t, held))
      : this.#verifyWith(t, keys);
  }

  #verifyWith(t: PrecheckedToken, keys: readonly ImportedKey[]): VerifiedIdentity {
    const settings = this.#settings;
    const failure = signatureFailure(t, keys, settings.budget);
    if (failure !== undefined) throw failure;
    checkTimeClaims(t.claims, settings.now() / 1000, settings.precheck.clockTolerance, true);
    return identityFromClaims(t.claims, t.issuer, t.audiences);
  }

  /**
   * Legacy tokens name no real issuer (`kubernetes/serviceaccount` in every cluster): each key set
   * the legacy allowance covers is tried, and the configured issuer whose key verified the token
   * is returned, so that the identity says which cluster signed it.
   */
  async #verifyLegacy(t: PrecheckedToken): Promise<string> {
    const settings = this.#settings;
    if (settings.learning.length > 0) await this.#learn();
    const allowed = settings.legacyIssuers;
    const seen = new Set<KeySet>();
    const tries: Array<{ issuer: string; keys: Promise<readonly ImportedKey[]> }> = [];
    for (const [issuer, set] of settings.keySetsByIssuer) {
      if ((allowed !== undefined && !allowed.includes(issuer)) || seen.has(set)) continue;
      seen.add(set);
      const keys = Promise.resolve().then(() => set.candidates(t.kid));
      keys.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
      tries.push({ issuer, keys });
    }
    let failure: ApiserverTokenError | undefined;
    let unavailable: unknown;
    for (const { issuer, keys } of tries) {
      let held: readonly ImportedKey[];
      try {
        held = await keys;
      } catch (error) {
        unavailable ??= error;
        continue;
      }
      const refused = signatureFailure(t, held, settings.budget);
      if (refused === undefined) return issuer;
      // An invalid signature says more than an unknown key: keep the most telling reason.
      if (failure === undefined || refused.code === 'invalid_signature') failure = refused;
    }
    // No key verified: if an issuer could not be asked, its keys might have.
    if (unavailable !== undefined) throw unavailable;
    throw failure ?? new UnknownKeyError('no issuer is allowed to sign legacy tokens');
  }

  /** The key sets, for `health()` and metrics (keys held, refreshes). */
  get keySets(): readonly KeySet[] {
    return this.#settings.keySets;
  }

  async ready(): Promise<void> {
    await Promise.all(this.#settings.keySets.map((set) => set.ready()));
  }

  async close(): Promise<void> {
    for (const set of this.#settings.keySets) set.close();
  }
}
