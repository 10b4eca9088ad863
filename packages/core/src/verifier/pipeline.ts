import { type ApiserverTokenError, isApiserverTokenError, MalformedTokenError } from '../errors.js';
import type { ApiserverIdentity, VerifiedBy } from '../identity.js';
import type { Logger } from '../logger.js';
import { checkBearerCharacters, checkTokenSize, readBearerToken } from './extract.js';
import { tokenFingerprint } from './fingerprint.js';
import type { PrecheckedToken } from './precheck.js';
import type { ResultCache } from './result-cache.js';
import type { RequestLike, TokenStrategy } from './types.js';

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
  /** Turns an unexpected exception into the 503 this mode reports (never a 500, never an accept). */
  unexpected: (error: unknown) => ApiserverTokenError;
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
    return this.#verify(token, request, false);
  }

  /**
   * Runs the authorizers on an identity established elsewhere (a client certificate), with the
   * same error handling and logging as after a token.
   */
  authorize(identity: ApiserverIdentity, request: RequestLike | undefined): Promise<ApiserverIdentity> {
    if (this.#closed) return Promise.reject(this.#settings.unexpected(new Error('the verifier is closed')));
    return this.#settings.authorizers.length === 0
      ? Promise.resolve(identity)
      : this.#authorize(identity, request);
  }

  close(): void {
    this.#closed = true;
    this.#settings.cache.clear();
  }

  #verify(token: string, request: RequestLike | undefined, fromHeader: boolean): Promise<ApiserverIdentity> {
    if (this.#closed) return Promise.reject(this.#settings.unexpected(new Error('the verifier is closed')));
    const { cache } = this.#settings;
    const key = cache.keyOf(token);
    const hit = cache.get(key);
    if (hit !== undefined) {
      if (hit.identity === undefined) {
        this.#logRejection(hit.error as ApiserverTokenError, hit.fingerprint);
        return Promise.reject(hit.error);
      }
      return this.#settings.authorizers.length === 0
        ? Promise.resolve(hit.identity)
        : this.#authorize(hit.identity, request);
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
      pending = this.#verifyMiss(token, key);
      this.#inflight.set(key, pending);
      const forget = (): void => {
        this.#inflight.delete(key);
      };
      pending.then(forget, forget);
    }
    return this.#settings.authorizers.length === 0
      ? pending
      : pending.then((identity) => this.#authorize(identity, request));
  }

  async #verifyMiss(token: string, key: string): Promise<ApiserverIdentity> {
    const { precheck, strategies, cache, logger } = this.#settings;
    const fingerprint = tokenFingerprint(token);
    try {
      const prechecked = precheck === undefined ? undefined : await precheck(token);
      let verified: Omit<ApiserverIdentity, 'tokenFingerprint' | 'verifiedBy'> | undefined;
      for (const strategy of strategies) {
        verified = await strategy.verify(token, {
          ...(prechecked && { prechecked }),
          ...(verified && { previous: verified }),
        });
      }
      const identity = freezeIdentity({
        ...(verified as NonNullable<typeof verified>),
        verifiedBy: this.#verifiedBy,
        tokenFingerprint: fingerprint,
      });
      cache.setIdentity(key, identity);
      logger?.debug(
        {
          fingerprint,
          username: identity.username,
          issuer: identity.issuer,
          verifiedBy: identity.verifiedBy,
        },
        'apiserver-token: token verified',
      );
      return identity;
    } catch (error) {
      let failure: ApiserverTokenError;
      if (isApiserverTokenError(error)) {
        failure = error;
      } else {
        logger?.error(
          { fingerprint, err: (error as Error)?.message ?? String(error) },
          'apiserver-token: unexpected error',
        );
        failure = this.#settings.unexpected(error);
      }
      this.#logRejection(failure, fingerprint);
      cache.setError(key, failure, fingerprint);
      throw failure;
    }
  }

  async #authorize(
    identity: ApiserverIdentity,
    request: RequestLike | undefined,
  ): Promise<ApiserverIdentity> {
    for (const authorizer of this.#settings.authorizers) {
      try {
        await authorizer(identity, request);
      } catch (error) {
        const failure = isApiserverTokenError(error) ? error : this.#settings.unexpected(error);
        this.#logRejection(failure, identity.tokenFingerprint);
        throw failure;
      }
    }
    return identity;
  }

  #logRejection(error: ApiserverTokenError, fingerprint: string | undefined): void {
    const logger = this.#settings.logger;
    if (logger === undefined) return;
    const object: Record<string, unknown> = { code: error.code, status: error.status, reason: error.message };
    if (fingerprint !== undefined) object.fingerprint = fingerprint;
    if (error.retryAfter !== undefined) object.retryAfter = error.retryAfter;
    if (error.status === 503) logger.warn(object, 'apiserver-token: cannot verify the token');
    else logger.info(object, 'apiserver-token: request rejected');
  }
}
