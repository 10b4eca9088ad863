import { createHmac, randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { RequestLike } from '../contracts/verifier.js';
import type { Diagnostics } from '../diagnostics/diagnostics.js';
import { ApiserverTokenError, ApiserverUnavailableError, ForbiddenIdentityError } from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';
import { scrubbedMessage, scrubUpstreamText } from '../lib/scrub.js';
import type { Logger } from '../logger.js';
import {
  type AttemptFailure,
  classifyAttemptFailure,
  retryAfterSeconds,
} from '../tokenreview/attempt-failure.js';
import { backoffDelay } from '../tokenreview/backoff.js';
import { importClientNode } from '../tokenreview/client-node.js';
import {
  type InClusterLocations,
  type KubeconfigSource,
  resolveKubeConfig,
} from '../tokenreview/kubeconfig.js';
import { ConcurrencyLimiter, LimiterRejection } from '../tokenreview/limiter.js';
import { assertMayCreate } from '../tokenreview/permission-probe.js';
import { type HttpsOptionsSource, SharedAgent } from '../tokenreview/shared-agent.js';
import { timedCall } from '../tokenreview/timed-call.js';
import { type AbortableCallOptions, abortableCallOptions } from '../tokenreview/transport.js';
import {
  checkAttributes,
  type ResolvedSubjectAccessReview,
  type SubjectAccessReviewAttributes,
} from './options.js';

/** `status` of a SubjectAccessReview answer. */
interface AccessReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

interface AuthorizationApiLike {
  createSubjectAccessReview(
    param: { body: unknown },
    options?: AbortableCallOptions,
  ): Promise<{ status?: AccessReviewStatus }>;
}

interface Decision {
  allowed: boolean;
  reason: string | undefined;
  expiresAt: number;
}

export interface SubjectAccessReviewerOptions {
  settings: ResolvedSubjectAccessReview;
  kubeconfig: KubeconfigSource;
  inCluster: InClusterLocations | false;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger | undefined;
  now: () => number;
  /** Where `ready()` reports credentials that may not create SubjectAccessReviews. */
  diagnostics?: Diagnostics;
}

// Per process: cache keys mean nothing elsewhere and reveal no identity.
const PROCESS_KEY = randomBytes(32);
const BACKOFF = { initial: 200, factor: 2, jitter: 0.2, max: 2000 };

/** The SubjectAccessReview sent for an identity: the apiserver's `spec` shape. */
function reviewBody(identity: ApiserverIdentity, attributes: SubjectAccessReviewAttributes) {
  const spec: Record<string, unknown> = { user: identity.username, groups: [...identity.groups] };
  if (identity.uid !== undefined) spec.uid = identity.uid;
  if (Object.keys(identity.extra).length > 0) spec.extra = identity.extra;
  if (attributes.resourceAttributes !== undefined)
    spec.resourceAttributes = { ...attributes.resourceAttributes };
  else spec.nonResourceAttributes = { ...attributes.nonResourceAttributes };
  return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec };
}

/** A stable key: everything the apiserver's decision depends on, extra keys sorted. */
function keyOf(body: ReturnType<typeof reviewBody>): string {
  const { extra, ...rest } = body.spec as { extra?: Record<string, string[]> };
  const sortedExtra =
    extra === undefined
      ? []
      : Object.keys(extra)
          .sort()
          .map((key) => [key, extra[key]]);
  return createHmac('sha256', PROCESS_KEY)
    .update(JSON.stringify([rest, sortedExtra]))
    .digest('base64');
}

/**
 * Asks the apiserver whether an identity may make a request (SubjectAccessReview), with cached
 * and coalesced decisions. It resolves when allowed and rejects with 403 `forbidden` when not, or
 * 503 `apiserver_unavailable` when there is no decision; the latter is never cached.
 */
export class SubjectAccessReviewer {
  readonly #options: SubjectAccessReviewerOptions;
  readonly #cache: LRUCache<string, Decision> | undefined;
  readonly #inflight = new Map<string, Promise<Decision>>();
  readonly #limiter = new ConcurrencyLimiter(32, 256);
  readonly #closing = new AbortController();
  /** One keep-alive connection pool for every SubjectAccessReview (client-node makes one per call). */
  readonly #agent = new SharedAgent();
  #api: Promise<AuthorizationApiLike> | undefined;
  /** Reviews asked of the apiserver, by decision (metrics). */
  readonly decisions = { allowed: 0, denied: 0, error: 0 };

  constructor(options: SubjectAccessReviewerOptions) {
    this.#options = options;
    const max = options.settings.cacheMax;
    this.#cache = max > 0 ? new LRUCache<string, Decision>({ max }) : undefined;
    // Every attempt in flight and every backoff wait listens for close() and removes its listener
    // when done: many at once is normal (32 in flight by default), not a leak worth a warning.
    setMaxListeners(0, this.#closing.signal);
  }

  async authorize(identity: ApiserverIdentity, request: RequestLike | undefined): Promise<void> {
    const attributes = await this.#attributes(identity, request);
    const body = reviewBody(identity, attributes);
    const key = keyOf(body);
    const now = this.#options.now();
    let decision = this.#cache?.get(key);
    if (decision !== undefined && decision.expiresAt <= now) {
      this.#cache?.delete(key);
      decision = undefined;
    }
    if (decision === undefined) {
      let pending = this.#inflight.get(key);
      if (pending === undefined) {
        pending = this.#review(body, identity.tokenFingerprint).then((status) => {
          const allowed = status.allowed === true && status.denied !== true;
          this.decisions[allowed ? 'allowed' : 'denied']++;
          const ttl = allowed ? this.#options.settings.allowedTtlMs : this.#options.settings.deniedTtlMs;
          const fresh: Decision = { allowed, reason: status.reason, expiresAt: this.#options.now() + ttl };
          if (ttl > 0) this.#cache?.set(key, fresh);
          return fresh;
        });
        this.#inflight.set(key, pending);
        const forget = () => {
          this.#inflight.delete(key);
        };
        pending.then(forget, () => {
          this.decisions.error++;
          forget();
        });
      }
      decision = await pending;
    }
    if (!decision.allowed) {
      const reason = decision.reason ? `: ${scrubUpstreamText(decision.reason).slice(0, 200)}` : '';
      throw new ForbiddenIdentityError(`SubjectAccessReview denied ${identity.username}${reason}`);
    }
  }

  /**
   * Resolves once the apiserver said our credentials may create SubjectAccessReviews (a
   * SelfSubjectAccessReview); rejects with a 503 error, reported once with the fix, otherwise.
   */
  async ready(): Promise<void> {
    if (this.#ready) return;
    const module = await importClientNode();
    const { kubeconfig, inCluster, env, settings, now, diagnostics } = this.#options;
    await assertMayCreate(
      module,
      resolveKubeConfig(module, kubeconfig, inCluster, env),
      'subjectaccessreviews',
      {
        timeout: settings.timeout,
        now,
        diagnostics,
      },
    );
    this.#ready = true;
  }

  /** Number of cached decisions (for tests and metrics). */
  get size(): number {
    return this.#cache?.size ?? 0;
  }

  #ready = false;

  close(): void {
    this.#closing.abort();
    this.#limiter.drain();
    this.#cache?.clear();
    this.#agent.close();
  }

  async #attributes(
    identity: ApiserverIdentity,
    request: RequestLike | undefined,
  ): Promise<SubjectAccessReviewAttributes> {
    const computed = await this.#options.settings.attributes(identity, request);
    return checkAttributes(computed, 'policy.subjectAccessReview.attributes()', (field, problem) => {
      // A bad computed value is a bug in the app, never an accept: 503 and a loud log.
      this.#options.logger?.error({ field }, `apiserver-token: ${field} ${problem}`);
      throw new ApiserverUnavailableError(`${field} ${problem}`, { retryAfter: 5 });
    });
  }

  #client(): Promise<AuthorizationApiLike> {
    if (this.#api === undefined) {
      const { kubeconfig, inCluster, env } = this.#options;
      const loading = importClientNode().then((module) => {
        if (typeof module.AuthorizationV1Api !== 'function')
          throw new Error('@kubernetes/client-node does not export AuthorizationV1Api');
        const config = resolveKubeConfig(module, kubeconfig, inCluster, env);
        this.#agent.useKubeConfig(config as HttpsOptionsSource);
        return config.makeApiClient(module.AuthorizationV1Api as never) as AuthorizationApiLike;
      });
      // A failed load is retried by the next request rather than pinned forever.
      loading.catch(() => {
        if (this.#api === loading) this.#api = undefined;
      });
      this.#api = loading;
    }
    return this.#api;
  }

  async #review(body: ReturnType<typeof reviewBody>, fingerprint: string): Promise<AccessReviewStatus> {
    const { timeout, retries } = this.#options.settings;
    const logger = this.#options.logger;
    let api: AuthorizationApiLike;
    try {
      api = await this.#client();
    } catch (error) {
      const reason = `SubjectAccessReview client unusable: ${scrubbedMessage(error)}`;
      logger?.error({ fingerprint }, `apiserver-token: ${reason}`);
      throw new ApiserverUnavailableError(reason, { retryAfter: 5 });
    }
    for (let attempt = 0; ; attempt++) {
      if (this.#closing.signal.aborted) throw new ApiserverUnavailableError('the verifier is closed');
      let release: () => void;
      try {
        release = await this.#limiter.acquire(timeout);
      } catch (error) {
        if (!(error instanceof LimiterRejection)) throw error;
        throw new ApiserverUnavailableError(`too many SubjectAccessReviews in flight: ${error.kind}`, {
          retryAfter: 1,
        });
      }
      let failure: AttemptFailure;
      try {
        const answer = await timedCall(
          (signal) => api.createSubjectAccessReview({ body }, abortableCallOptions(signal, this.#agent)),
          timeout,
          this.#closing.signal,
        );
        const status = answer?.status;
        if (typeof status !== 'object' || status === null || typeof status.allowed !== 'boolean') {
          throw new ApiserverUnavailableError('the SubjectAccessReview answer has no status.allowed');
        }
        return status;
      } catch (error) {
        if (error instanceof ApiserverTokenError) throw error;
        failure = classifyAttemptFailure(error, this.#options.now(), 'SubjectAccessReview');
      } finally {
        release();
      }
      if (failure.misconfiguration)
        logger?.error({ fingerprint, status: failure.status }, `apiserver-token: ${failure.reason}`);
      if (failure.misconfiguration || !failure.retryable || attempt >= retries) {
        throw new ApiserverUnavailableError(`${failure.reason} (after ${attempt + 1} attempt(s))`, {
          retryAfter: retryAfterSeconds(failure),
        });
      }
      const delay = Math.max(backoffDelay(attempt, BACKOFF), failure.retryAfterMs ?? 0);
      logger?.debug(
        { fingerprint, attempt: attempt + 1, delayMs: Math.round(delay) },
        `apiserver-token: ${failure.reason}; retrying`,
      );
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, 10_000)));
    }
  }
}
