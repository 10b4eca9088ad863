import type { StrategyContext, TokenStrategy } from '../contracts/verifier.js';
import { InvalidSignatureError, UnknownIssuerError, UnknownKeyError } from '../errors.js';
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
import type { Candidates, KeySet } from './key-set.js';

/** What the jwks strategy needs; `issuers` and `keySetsByIssuer` grow when an issuer is learned. */
export interface JwksStrategySettings {
  precheck: PrecheckSettings & { issuers: Set<string> };
  keySetsByIssuer: Map<string, KeySet>;
  keySets: KeySet[];
  /** Key sets whose issuer is still to be learned by discovery (in-cluster). */
  learning: KeySet[];
  now: () => number;
  logger: Logger | undefined;
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
    const settings = this.#settings;
    const t = context?.prechecked ?? (await this.precheck(token));
    const alg = t.alg as JwsAlgorithm;
    let candidates = this.#candidates(t);
    if (candidates instanceof Promise) candidates = await candidates;
    const { matched, all } = candidates;
    // The token's kid first; then, as kube-apiserver does, every other key of the issuer.
    let tried = 0;
    const verifies = ({ key, alg: keyAlg }: ImportedKey): boolean => {
      if ((keyAlg !== undefined && keyAlg !== alg) || !keyFitsAlgorithm(key, alg)) return false;
      tried++;
      return verifySignature(alg, key, t.signingInput, t.signature);
    };
    const verified =
      matched.some(verifies) ||
      (matched.length !== all.length && all.some((key) => !matched.includes(key) && verifies(key)));
    if (!verified) {
      const kid = describeValue(t.kid ?? null);
      if (tried === 0 && matched.length === 0)
        throw new UnknownKeyError(`no key with kid ${kid} and none fits ${alg}`);
      if (tried === 0) throw new InvalidSignatureError(`the key with kid ${kid} does not fit ${alg}`);
      throw new InvalidSignatureError(
        matched.length === 0
          ? `kid ${kid} is unknown and no key verifies the signature`
          : 'the signature does not verify',
      );
    }
    checkTimeClaims(t.claims, settings.now() / 1000, settings.precheck.clockTolerance, !t.legacy);
    if (t.legacy) {
      settings.logger?.warn(
        { issuer: t.issuer },
        'apiserver-token: accepted a legacy secret-based token (allowLegacyTokens): migrate its caller to bound tokens',
      );
      return identityFromLegacyClaims(t.claims, t.issuer);
    }
    return identityFromClaims(t.claims, t.issuer, t.audiences);
  }

  #candidates(t: PrecheckedToken): Candidates | Promise<Candidates> {
    if (!t.legacy) {
      const set = this.#settings.keySetsByIssuer.get(t.issuer);
      if (set === undefined) throw new UnknownIssuerError(`issuer ${describeValue(t.issuer)} has no key set`);
      return set.candidates(t.kid);
    }
    return this.#legacyCandidates(t);
  }

  // Legacy tokens name no real issuer: they are signed with a key of one of the configured ones.
  async #legacyCandidates(t: PrecheckedToken): Promise<Candidates> {
    const found: Candidates = { matched: [], all: [] };
    for (const set of this.#settings.keySets) {
      const { matched, all } = await set.candidates(t.kid);
      found.matched.push(...matched);
      found.all.push(...all);
    }
    return found;
  }

  async ready(): Promise<void> {
    await Promise.all(this.#settings.keySets.map((set) => set.ready()));
  }

  async close(): Promise<void> {
    for (const set of this.#settings.keySets) set.close();
  }
}
