import type { RequestLike, StrategyContext, TokenStrategy } from '../contracts/verifier.js';
import type { ClockSkewWatch } from '../diagnostics/clock-skew.js';
import { type ApiserverTokenError, isApiserverTokenError, MalformedTokenError } from '../errors.js';
import type { VerifiedIdentity } from '../identity/kubernetes-claims.js';
import type { ApiserverIdentity, VerifiedBy } from '../identity.js';
import { tokenFingerprint } from '../jwt/fingerprint.js';
import type { PrecheckedToken } from '../jwt/precheck.js';
import { type Logger, logRejection } from '../logger.js';
import { checkBearerCharacters, checkTokenSize, readBearerToken } from './extract.js';
import type { ResultCache } from './result-cache.js';

/**
 * A step run on every request after the identity is established (cached or not): allow-lists,
 * custom predicates, SubjectAccessReview, KEP-6060 admission checks. Throws an
 * `ApiserverTokenError` (usually 403) to refuse.
 */
export type Authorizer = (
  identity: ApiserverIdentity,
  request: RequestLike | undefined,
) => void | Promise<void>;

/** The parts a pipeline is assembled from. */
export interface PipelineSettings {
  /** Run in order on a cache miss; each must accept. One: its name is `verifiedBy`; several: `hybrid`. */
  strategies: readonly TokenStrategy[];
  /**
   * The unverified pre-check run before any strategy; undefined to skip. It may resolve to
   * undefined for a token it lets through undecoded (an opaque token for TokenReview).
   */
  precheck:
    | ((token: string) => PrecheckedToken | undefined | Promise<PrecheckedToken | undefined>)
    | undefined;
  authorizers: readonly Authorizer[];
  cache: ResultCache;
  maxTokenBytes: number;
  logger: Logger | undefined;
  /** False in observe mode: rejections are logged as what enforcing would have done. */
  enforcing: boolean;
  /**
   * Turns an unexpected exception into the 503 this mode reports (never a 500, never an accept),
   * its message scrubbed of `token` and anything JWT-shaped.
   */
  unexpected: (error: unknown, token?: string) => ApiserverTokenError;
  /** Sees every failed verification (not cache hits, not policy), to spot a clock that is off. */
  clockSkew?: ClockSkewWatch;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Freezes an identity and its nested objects: it is shared by every request that hits its cache entry. */
export function freezeIdentity(identity: ApiserverIdentity): ApiserverIdentity {
  for (const value of Object.values(identity)) {
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) Object.freeze(value);
  }
  for (const list of Object.values(identity.extra)) Object.freeze(list);
  if (identity.attestations?.admissionReviewAPIGroups !== undefined)
    Object.freeze(identity.attestations.admissionReviewAPIGroups);
  return Object.freeze(identity);
}

/**
 * One request through extract → cache → pre-check → strategies (coalesced) → identity →
 * authorizers. The cached path hashes the token once and decodes nothing.
 */
export class Pipeline {
  readonly #settings: PipelineSettings;
  readonly #verifiedBy: VerifiedBy;
  readonly #inflight = new Map<string, Promise<ApiserverIdentity>>();
  #closed = false;

  constructor(settings: PipelineSettings) {
    if (settings.strategies.length === 0) throw new TypeError('a pipeline needs at least one strategy');
    this.#settings = settings;
    this.#verifiedBy =
      settings.strategies.length === 1 ? (settings.strategies[0] as TokenStrategy).name : 'hybrid';
  }

  verify(request: RequestLike): Promise<ApiserverIdentity> {
    const result = this.verifyNow(request);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  /**
   * {@link Pipeline.verify}, but an identity cached or verified synchronously (keys held) whose
   * authorizers all return synchronously (allow-lists) comes back as a value, not a promise: the adapters then call the next handler
   * without a single microtask hop. Every failure is a rejected promise, never a throw.
   */
  verifyNow(request: RequestLike): ApiserverIdentity | Promise<ApiserverIdentity> {
    let token: string;
    try {
      token = readBearerToken(request, this.#settings.maxTokenBytes);
    } catch (error) {
      // A request without headers is a caller's bug: still a clean 503, never a TypeError.
      const failure = isApiserverTokenError(error) ? error : this.#settings.unexpected(error);
      this.#logRejection(failure, undefined);
      return Promise.reject(failure);
    }
    return this.#verify(token, request, true);
  }

  verifyToken(token: string, request?: RequestLike): Promise<ApiserverIdentity> {
    try {
      if (typeof token !== 'string') throw new MalformedTokenError('the token is not a string');
      checkTokenSize(token, this.#settings.maxTokenBytes);
    } catch (error) {
      const failure = isApiserverTokenError(error) ? error : this.#settings.unexpected(error);
      this.#logRejection(failure, undefined);
      return Promise.reject(failure);
    }
    const result = this.#verify(token, request, false);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  /**
   * Runs the authorizers on an identity established elsewhere (a client certificate), with the
   * same error handling and logging as after a token.
   */
  authorize(identity: ApiserverIdentity, request: RequestLike | undefined): Promise<ApiserverIdentity> {
    if (this.#closed) return Promise.reject(this.#settings.unexpected(new Error('the verifier is closed')));
    const result = this.#authorize(identity, request, 0);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  close(): void {
    this.#closed = true;
    this.#settings.cache.clear();
  }

  #verify(
    token: string,
    request: RequestLike | undefined,
    fromHeader: boolean,
  ): ApiserverIdentity | Promise<ApiserverIdentity> {
    if (this.#closed) return Promise.reject(this.#settings.unexpected(new Error('the verifier is closed')));
    const { cache } = this.#settings;
    const key = cache.keyOf(token);
    const hit = cache.get(key);
    if (hit !== undefined) {
      if (hit.identity === undefined) {
        this.#logRejection(hit.error as ApiserverTokenError, hit.fingerprint);
        return Promise.reject(hit.error);
      }
      return this.#authorize(hit.identity, request, 0);
    }
    if (fromHeader) {
      try {
        checkBearerCharacters(token);
      } catch (error) {
        this.#logRejection(error as ApiserverTokenError, undefined);
        return Promise.reject(error);
      }
    }
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      let result: ApiserverIdentity | Promise<ApiserverIdentity>;
      try {
        result = this.#verifyMiss(token, key);
      } catch (failure) {
        return Promise.reject(failure);
      }
      // Decided synchronously (keys held): no other request can have asked for it meanwhile.
      if (!isThenable(result)) return this.#authorize(result, request, 0);
      pending = Promise.resolve(result);
      this.#inflight.set(key, pending);
      const forget = (): void => {
        this.#inflight.delete(key);
      };
      pending.then(forget, forget);
    }
    return this.#settings.authorizers.length === 0
      ? pending
      : pending.then((identity) => this.#authorize(identity, request, 0));
  }

  /**
   * A cache miss: pre-check, then each strategy in turn. Synchronous for as long as they answer
   * synchronously (a pre-check and jwks with keys held: the usual miss), so that it costs no
   * promise; from the first step that returns a promise on, it continues in
   * {@link Pipeline.#verifyMissLater}. A failure decided synchronously is thrown (an
   * `ApiserverTokenError`, already logged and cached), one decided later rejects the promise.
   */
  #verifyMiss(token: string, key: string): ApiserverIdentity | Promise<ApiserverIdentity> {
    const { precheck, strategies } = this.#settings;
    const fingerprint = tokenFingerprint(token);
    let passedPrecheck = false;
    try {
      const prechecked = precheck === undefined ? undefined : precheck(token);
      if (isThenable(prechecked))
        return this.#verifyMissLater(token, key, fingerprint, prechecked, 0, undefined);
      passedPrecheck = true;
      let verified: VerifiedIdentity | undefined;
      for (let index = 0; index < strategies.length; index++) {
        const step = this.#runStrategy(
          strategies[index] as TokenStrategy,
          token,
          fingerprint,
          prechecked,
          verified,
        );
        // Any thenable, not only a native promise: a pending result must never pass for an identity.
        if (isThenable(step)) return this.#verifyMissLater(token, key, fingerprint, prechecked, index, step);
        verified = step;
      }
      return this.#accepted(key, fingerprint, verified as VerifiedIdentity);
    } catch (error) {
      throw this.#missFailed(error, token, key, fingerprint, passedPrecheck);
    }
  }

  /**
   * The rest of a miss once a step returned a promise: `pending` is the pre-check's (when
   * `from` is 0 and `prechecked` is that promise) or strategy `from`'s.
   */
  async #verifyMissLater(
    token: string,
    key: string,
    fingerprint: string,
    precheckedNow: PrecheckedToken | undefined | Promise<PrecheckedToken | undefined>,
    from: number,
    pending: Promise<VerifiedIdentity> | undefined,
  ): Promise<ApiserverIdentity> {
    const { strategies } = this.#settings;
    let passedPrecheck = pending !== undefined;
    try {
      const prechecked = await precheckedNow;
      passedPrecheck = true;
      let verified = pending === undefined ? undefined : await pending;
      for (let index = pending === undefined ? from : from + 1; index < strategies.length; index++) {
        verified = await this.#runStrategy(
          strategies[index] as TokenStrategy,
          token,
          fingerprint,
          prechecked,
          verified,
        );
      }
      return this.#accepted(key, fingerprint, verified as VerifiedIdentity);
    } catch (error) {
      throw this.#missFailed(error, token, key, fingerprint, passedPrecheck);
    }
  }

  #runStrategy(
    strategy: TokenStrategy,
    token: string,
    fingerprint: string,
    prechecked: PrecheckedToken | undefined,
    previous: VerifiedIdentity | undefined,
  ): VerifiedIdentity | Promise<VerifiedIdentity> {
    const context: StrategyContext = { fingerprint };
    if (prechecked !== undefined) context.prechecked = prechecked;
    if (previous !== undefined) context.previous = previous;
    return strategy.verifyNow === undefined
      ? strategy.verify(token, context)
      : strategy.verifyNow(token, context);
  }

  /** A verified miss: completed, frozen, cached and logged. */
  #accepted(key: string, fingerprint: string, verified: VerifiedIdentity): ApiserverIdentity {
    // A strategy's result is a fresh object the pipeline owns: completed in place (a spread of
    // it would cost more than every other step of a miss but the signature) and then frozen.
    const identity = verified as ApiserverIdentity;
    identity.verifiedBy = this.#verifiedBy;
    identity.tokenFingerprint = fingerprint;
    freezeIdentity(identity);
    this.#settings.cache.setIdentity(key, identity);
    this.#settings.logger?.debug(
      {
        fingerprint,
        username: identity.username,
        issuer: identity.issuer,
        verifiedBy: identity.verifiedBy,
      },
      'apiserver-token: token verified',
    );
    return identity;
  }

  /** A failed miss: the error to reject with, logged, and cached when it is a verdict. */
  #missFailed(
    error: unknown,
    token: string,
    key: string,
    fingerprint: string,
    passedPrecheck: boolean,
  ): ApiserverTokenError {
    const { cache, logger } = this.#settings;
    let failure: ApiserverTokenError;
    if (isApiserverTokenError(error)) {
      failure = error;
    } else {
      failure = this.#settings.unexpected(error, token);
      logger?.error({ fingerprint, err: failure.message }, 'apiserver-token: unexpected error');
    }
    this.#logRejection(failure, fingerprint);
    this.#settings.clockSkew?.observe(failure);
    // What the pre-check refuses costs less than a cache entry and is free to produce: caching
    // it would only let a flood of garbage evict verified tokens.
    if (passedPrecheck) cache.setError(key, failure, fingerprint);
    return failure;
  }

  /**
   * The authorizers from `from` on, synchronously while they return synchronously; from the
   * first that returns a promise on, asynchronously (each awaited before the next runs).
   */
  #authorize(
    identity: ApiserverIdentity,
    request: RequestLike | undefined,
    from: number,
  ): ApiserverIdentity | Promise<ApiserverIdentity> {
    const { authorizers } = this.#settings;
    for (let index = from; index < authorizers.length; index++) {
      let result: void | Promise<void>;
      try {
        result = (authorizers[index] as Authorizer)(identity, request);
      } catch (error) {
        return Promise.reject(this.#denied(error, identity));
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          () => this.#authorize(identity, request, index + 1),
          (error: unknown) => {
            throw this.#denied(error, identity);
          },
        );
      }
    }
    return identity;
  }

  #denied(error: unknown, identity: ApiserverIdentity): ApiserverTokenError {
    const failure = isApiserverTokenError(error) ? error : this.#settings.unexpected(error);
    this.#logRejection(failure, identity.tokenFingerprint);
    return failure;
  }

  #logRejection(error: ApiserverTokenError, fingerprint: string | undefined): void {
    const logger = this.#settings.logger;
    if (logger !== undefined) logRejection(logger, error, fingerprint, this.#settings.enforcing);
  }
}
