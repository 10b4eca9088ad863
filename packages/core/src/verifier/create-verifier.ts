import { admissionCheck } from '../admission/check.js';
import { PeerCertificateVerifier } from '../client-certificate/peer-certificate.js';
import { type ResolvedConfig, resolveConfig } from '../config/resolve.js';
import type {
  ApiserverTokenVerifier,
  RequestLike,
  TokenStrategy,
  VerifierHealth,
} from '../contracts/verifier.js';
import { ClockSkewWatch } from '../diagnostics/clock-skew.js';
import { Diagnostics } from '../diagnostics/diagnostics.js';
import {
  type ApiserverTokenError,
  ApiserverUnavailableError,
  IssuerUnavailableError,
  isApiserverTokenError,
} from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';
import { JsonFetcher } from '../jwks/fetch-json.js';
import { type KeySet, RemoteKeySet, StaticKeySet } from '../jwks/key-set.js';
import { reportSkippedKeys } from '../jwks/report-skipped.js';
import { JwksStrategy } from '../jwks/strategy.js';
import { VerificationBudget } from '../jwks/verification-budget.js';
import type { PrecheckedToken } from '../jwt/precheck.js';
import { scrubbedMessage } from '../lib/scrub.js';
import { LOGS_VERDICTS } from '../logger.js';
import { type MetricsSnapshot, RequestCounts } from '../metrics/snapshot.js';
import type { MetricsTarget } from '../metrics/target.js';
import type { VerifierOptions } from '../options.js';
import { allowListCheck, predicateCheck } from '../policy/allow-lists.js';
import { SubjectAccessReviewer } from '../policy/subject-access-review.js';
import { unverifiedServiceAccountCheck } from '../policy/unverified-service-account.js';
import { precheckForReview } from '../tokenreview/precheck.js';
import { createTokenReviewStrategy, type TokenReviewStrategy } from '../tokenreview/strategy.js';
import { MeteredPipeline, MeteredResultCache } from './metered-pipeline.js';
import { type Authorizer, freezeIdentity, Pipeline, type PipelineSettings } from './pipeline.js';
import { ResultCache } from './result-cache.js';
import { withVerifyNow } from './verify-now.js';

/** The jwks strategy for a resolved configuration: one key set per configured source. */
function createJwksStrategy(
  config: ResolvedConfig,
  fetcher: JsonFetcher,
  diagnostics: Diagnostics,
): JwksStrategy {
  const issuers = new Set<string>();
  const keySetsByIssuer = new Map<string, KeySet>();
  const keySets: KeySet[] = [];
  const learning: KeySet[] = [];
  for (const { issuers: names, source } of config.keySets) {
    let set: KeySet;
    if (source.kind === 'static') {
      set = new StaticKeySet(source.keys, source.label, source.skipped);
      reportSkippedKeys(diagnostics.logger, source.label, source.skipped);
    } else {
      const learn = (issuer: string): void => {
        issuers.add(issuer);
        keySetsByIssuer.set(issuer, set);
        config.logger?.info({ issuer }, 'apiserver-token: learned the in-cluster issuer');
      };
      set = new RemoteKeySet(
        {
          discovery: source.discovery,
          jwksUri: source.jwksUri,
          issuers: names,
          allowCrossOriginJwksUri: source.allowCrossOriginJwksUri,
        },
        source.fetch,
        source.timing,
        fetcher,
        config.now,
        config.logger,
        diagnostics,
        names === undefined ? learn : undefined,
      );
    }
    keySets.push(set);
    if (names === undefined) learning.push(set);
    for (const name of names ?? []) {
      issuers.add(name);
      keySetsByIssuer.set(name, set);
    }
  }
  return new JwksStrategy({
    precheck: {
      algorithms: config.algorithms,
      issuers,
      audiences: new Set(config.audiences),
      clockTolerance: config.clockTolerance,
      allowLegacyTokens: config.allowLegacyTokens,
    },
    keySetsByIssuer,
    keySets,
    learning,
    legacyIssuers: config.legacyIssuers,
    now: config.now,
    logger: config.logger,
    budget:
      config.verificationBudget === undefined
        ? undefined
        : new VerificationBudget({ ...config.verificationBudget, now: config.now, diagnostics }),
  });
}

/** What a metered verifier reads its levels and cold-path counts from at collection. */
interface MeteredParts {
  cache: MeteredResultCache;
  requests: RequestCounts;
  keySets: readonly KeySet[];
  review: TokenReviewStrategy | undefined;
  reviewer: SubjectAccessReviewer | undefined;
  now: () => number;
}

function snapshotOf(parts: MeteredParts): MetricsSnapshot {
  const { cache, keySets, review, reviewer } = parts;
  const snapshot: MetricsSnapshot = {
    requests: parts.requests.values(),
    cache: { entries: cache.size, hits: cache.hits, misses: cache.misses, evictions: cache.evictions },
  };
  if (keySets.length > 0) {
    const remote = keySets.filter((set) => set instanceof RemoteKeySet);
    snapshot.jwks = {
      refreshes: {
        success: remote.reduce((sum, set) => sum + set.refreshes.success, 0),
        failure: remote.reduce((sum, set) => sum + set.refreshes.failure, 0),
      },
      keys: keySets.reduce((sum, set) => sum + set.keyCount, 0),
      lastSuccessAt: remote.map((set) => set.lastSuccessAt),
      now: parts.now(),
    };
  }
  if (review !== undefined) {
    const { client } = review;
    snapshot.tokenReview = {
      results: { ...client.results },
      inFlight: client.limiter.inFlight,
      queued: client.limiter.queued,
      refused: { ...client.limiter.refused },
    };
  }
  if (reviewer !== undefined) snapshot.subjectAccessReview = { ...reviewer.decisions };
  return snapshot;
}

/**
 * The pipeline: the plain one when metrics are off, the metered one (counting, timing) when on,
 * attached to its registry or meter until close.
 */
function createPipeline(
  settings: Omit<PipelineSettings, 'cache'>,
  cacheSettings: ConstructorParameters<typeof MeteredResultCache>[0],
  metrics: MetricsTarget | undefined,
  parts: Omit<MeteredParts, 'cache' | 'requests'>,
): { pipeline: Pipeline; metered: MeteredPipeline | undefined; detach: () => void; cache: ResultCache } {
  if (metrics === undefined) {
    const cache = new ResultCache(cacheSettings);
    return { pipeline: new Pipeline({ ...settings, cache }), metered: undefined, detach: () => {}, cache };
  }
  const cache = new MeteredResultCache(cacheSettings);
  const requests = new RequestCounts();
  const metered = new MeteredPipeline({ ...settings, cache, requests, latency: metrics.latency });
  const detach = metrics.attach(() => snapshotOf({ ...parts, cache, requests }));
  return { pipeline: metered, metered, detach, cache };
}

/** The TokenReview strategy of the tokenreview/hybrid modes. */
function createReviewStrategy(config: ResolvedConfig, diagnostics: Diagnostics): TokenReviewStrategy {
  return createTokenReviewStrategy({
    diagnostics,
    audiences: config.audiences,
    kubeconfig: config.kubeconfig,
    inCluster: config.inClusterLocations,
    env: config.env,
    settings: config.tokenReview,
    logger: config.logger,
    now: config.now,
  });
}

/** The tokenreview mode's pre-check, where the issuer may be unknown and opaque tokens may pass. */
function reviewPrecheck(config: ResolvedConfig): (token: string) => PrecheckedToken | undefined {
  const settings = {
    algorithms: config.algorithms,
    issuers: new Set(config.reviewIssuers),
    audiences: new Set(config.audiences),
    clockTolerance: config.clockTolerance,
    allowLegacyTokens: config.allowLegacyTokens,
    allowOpaqueTokens: config.tokenReview.allowOpaqueTokens,
  };
  return (token) => precheckForReview(token, settings, config.now() / 1000);
}

type Precheck = (token: string) => PrecheckedToken | Promise<PrecheckedToken>;

/**
 * jwks mode: the pre-check followed by the allow-lists' verdict on the token's unverified service
 * account, so that what the policy would refuse anyway costs no signature verification. Only in
 * jwks mode, where the identity is read from these very claims; a TokenReview may map a token to
 * another user.
 */
function withPolicyPrecheck(precheck: Precheck, config: ResolvedConfig): Precheck {
  const check = config.mode === 'jwks' ? unverifiedServiceAccountCheck(config.policy) : undefined;
  if (check === undefined) return precheck;
  return (token) => {
    const prechecked = precheck(token);
    if (prechecked instanceof Promise) {
      return prechecked.then((settled) => {
        check(settled);
        return settled;
      });
    }
    check(prechecked);
    return prechecked;
  };
}

/**
 * Cache lifetimes: an apiserver verdict is trusted for `tokenReview.cacheTtl` so a revocation is
 * noticed that soon; in hybrid mode the one cached result (local and apiserver verdicts) lives
 * no longer than that either. The apiserver's "no" (`token_rejected`, `revoked`) is remembered
 * for `tokenReview.failureCacheTtl`, local rejections for `cache.failureTtl`.
 */
function cacheTtls(config: ResolvedConfig): {
  ttlMs: number;
  failureTtlMs: number;
  reviewFailureTtlMs: number;
} {
  const failureTtlMs = config.cache.failureTtlMs;
  if (config.mode === 'jwks') return { ttlMs: config.cache.ttlMs, failureTtlMs, reviewFailureTtlMs: 0 };
  const review = config.tokenReview;
  return {
    ttlMs: Math.min(config.cache.ttlMs, review.cacheTtlMs),
    failureTtlMs,
    reviewFailureTtlMs: review.failureCacheTtlMs,
  };
}

/**
 * The policy as pipeline steps, cheapest first: allow-lists, the KEP-6060 admission checks, the
 * custom predicate, then the SubjectAccessReview (so nothing local has refused before an
 * apiserver call is spent).
 */
function createAuthorizers(
  config: ResolvedConfig,
  diagnostics: Diagnostics,
): {
  authorizers: Authorizer[];
  reviewer: SubjectAccessReviewer | undefined;
} {
  const authorizers: Authorizer[] = [];
  const policy = config.policy;
  const lists = policy === undefined ? undefined : allowListCheck(policy);
  if (lists !== undefined) authorizers.push(lists);
  if (config.admission !== undefined) authorizers.push(admissionCheck(config.admission));
  if (policy?.allow !== undefined) authorizers.push(predicateCheck(policy.allow));
  let reviewer: SubjectAccessReviewer | undefined;
  if (policy?.subjectAccessReview !== undefined) {
    const sar = new SubjectAccessReviewer({
      settings: policy.subjectAccessReview,
      kubeconfig: config.kubeconfig,
      inCluster: config.inClusterLocations,
      env: config.env,
      logger: config.logger,
      now: config.now,
      diagnostics,
    });
    reviewer = sar;
    authorizers.push((identity, request) => sar.authorize(identity, request));
  }
  return { authorizers, reviewer };
}

/**
 * Create a verifier of the bearer tokens a kube-apiserver presents to webhooks.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({
 *   audience: 'https://my-webhook.my-ns.svc:443/validate',
 *   issuer: 'https://kubernetes.default.svc.cluster.local',
 * });
 * await verifier.ready();
 * const identity = await verifier.verify({ headers: req.headers });
 * ```
 *
 * @throws ApiserverTokenConfigError - when an option (or `APISERVER_TOKEN_*` variable) is invalid; the error names it.
 */
export function createVerifier(options: VerifierOptions = {}): ApiserverTokenVerifier {
  const config = resolveConfig(options);
  const diagnostics = new Diagnostics({ logger: config.diagnosticsLogger, now: config.now });
  if (!config.enforce) {
    diagnostics.report({
      code: 'APISERVER_TOKEN_OBSERVE_MODE',
      cause: 'enforce-false',
      level: 'warn',
      message:
        'observe mode (enforce: false): requests that fail verification are LET THROUGH, without an identity; nothing is enforced',
      fix: 'once the logs and metrics show only the callers you expect being accepted, remove `enforce: false` (or APISERVER_TOKEN_ENFORCE)',
    });
  }
  const fetcher = new JsonFetcher();
  const jwks = config.mode === 'tokenreview' ? undefined : createJwksStrategy(config, fetcher, diagnostics);
  const review = config.mode === 'jwks' ? undefined : createReviewStrategy(config, diagnostics);
  const strategies: TokenStrategy[] = [jwks, review].filter((strategy) => strategy !== undefined);
  const { authorizers, reviewer } = createAuthorizers(config, diagnostics);
  const unexpected = (error: unknown, token?: string): ApiserverTokenError => {
    if (isApiserverTokenError(error)) return error;
    const message = scrubbedMessage(error, [token]);
    const raw = (error as Error | null)?.message ?? String(error);
    // The cause is kept only when its text holds nothing to scrub: a logged error prints it.
    return new (config.mode === 'tokenreview' ? ApiserverUnavailableError : IssuerUnavailableError)(
      `unexpected: ${message}`,
      { ...(message === raw && { cause: error }), retryAfter: 5 },
    );
  };
  const {
    pipeline,
    metered,
    detach,
    cache: pipelineCache,
  } = createPipeline(
    {
      strategies,
      precheck: jwks === undefined ? reviewPrecheck(config) : withPolicyPrecheck(jwks.precheck, config),
      authorizers,
      maxTokenBytes: config.maxTokenBytes,
      logger: config.logger,
      enforcing: config.enforce,
      unexpected,
      clockSkew: new ClockSkewWatch({ diagnostics, now: config.now }),
    },
    { max: config.cache.max, ...cacheTtls(config), audiences: config.audiences, now: config.now },
    config.metrics,
    { keySets: jwks?.keySets ?? [], review, reviewer, now: config.now },
  );
  const admission = config.admission;
  const certificates =
    config.clientCertificate === undefined
      ? undefined
      : new PeerCertificateVerifier(config.clientCertificate, config.now);

  const reject = (error: ApiserverTokenError, fingerprint?: string): Promise<never> => {
    metered?.countRejection(error);
    config.logger?.info(
      { code: error.code, status: error.status, reason: error.message, ...(fingerprint && { fingerprint }) },
      'apiserver-token: request rejected',
    );
    return Promise.reject(error);
  };

  const verifyWith = async (
    request: RequestLike | undefined,
    verifyToken: (request: RequestLike | undefined) => Promise<ApiserverIdentity>,
  ): Promise<ApiserverIdentity> => {
    // Admission mode: the token is verified from the headers first; the AdmissionReview is read
    // (from the stream when no parser ran) only by the KEP-6060 check of a verified token, into
    // this copy of the request, so a caller without a valid token never makes us buffer a body.
    const prepared = admission !== undefined && request !== undefined ? { ...request } : request;
    if (certificates === undefined) return verifyToken(prepared);
    const outcome = certificates.check(prepared?.socket);
    if (certificates.mode === 'accept') {
      if (!outcome.ok) {
        config.logger?.debug(
          { reason: outcome.error.message },
          'apiserver-token: no usable client certificate; verifying the token',
        );
        return verifyToken(prepared);
      }
      const { info } = outcome;
      return pipeline.authorize(
        freezeIdentity({
          username: info.commonName,
          groups: info.organizations,
          extra: {},
          audiences: [],
          expiresAt: info.validTo,
          clientCertificate: info,
          verifiedBy: 'client-certificate',
          tokenFingerprint: outcome.fingerprint,
        }),
        prepared,
      );
    }
    if (!outcome.ok) return reject(outcome.error);
    const identity = await verifyToken(prepared);
    return freezeIdentity({ ...identity, clientCertificate: outcome.info });
  };

  let closed: Promise<void> | undefined;
  const direct = admission === undefined && certificates === undefined;
  let readyOnce = false;
  const health = (): VerifierHealth => {
    const keySets = jwks?.keySets.map((set) => set.health()) ?? [];
    const reviewClient = review?.client;
    const warnings: string[] = [];
    if (!config.enforce)
      warnings.push('observe mode (enforce: false): requests that fail verification are let through');
    for (const set of keySets) {
      if (set.lastError !== undefined) warnings.push(`keys of ${set.source}: ${set.lastError}`);
    }
    if (reviewClient?.lastError !== undefined) warnings.push(`TokenReview: ${reviewClient.lastError}`);
    return {
      mode: config.mode,
      enforcing: config.enforce,
      ready:
        keySets.every((set) => set.keys > 0) &&
        ((review === undefined && reviewer === undefined) || readyOnce),
      keySets,
      cache: { size: pipelineCache.size, max: config.cache.max },
      ...(reviewClient !== undefined && {
        tokenReview: {
          inFlight: reviewClient.limiter.inFlight,
          queued: reviewClient.limiter.queued,
          lastError: reviewClient.lastError,
        },
      }),
      warnings,
    };
  };
  const verifier: ApiserverTokenVerifier = {
    enforcing: config.enforce,
    health,
    verify: (request) =>
      direct
        ? pipeline.verify(request)
        : verifyWith(request, (prepared) => pipeline.verify(prepared as RequestLike)),
    verifyToken: (token, request) =>
      direct
        ? pipeline.verifyToken(token, request)
        : verifyWith(request, (prepared) => pipeline.verifyToken(token, prepared)),
    ...(admission !== undefined && {
      admission: Object.freeze({ respond: admission.respond, maxBodyBytes: admission.maxBodyBytes }),
    }),
    ready: async () => {
      await Promise.all([...strategies.map((strategy) => strategy.ready()), reviewer?.ready()]);
      readyOnce = true;
    },
    close: () => {
      closed ??= (async () => {
        pipeline.close();
        detach();
        reviewer?.close();
        fetcher.close();
        await Promise.all(strategies.map((strategy) => strategy.close()));
      })();
      return closed;
    },
  };
  // Its own logger logs each verdict: the HTTP layer then stays off the framework's request logger.
  if (config.logger !== undefined) Object.defineProperty(verifier, LOGS_VERDICTS, { value: true });
  return withVerifyNow(
    verifier,
    direct ? (request) => pipeline.verifyNow(request) : (request) => verifier.verify(request),
  );
}
