/**
 * Options of {@link createVerifier}. Every field a deployment sets can also come from an
 * `APISERVER_TOKEN_*` environment variable (named on each field); an explicit option always
 * wins over the environment.
 *
 * @packageDocumentation
 */
import type { AdmissionOptions } from './admission/options.js';
import type { ClientCertificateOptions } from './client-certificate/options.js';
import type { Logger } from './logger.js';
import type { MetricsOptions } from './metrics/options.js';
import type { PolicyOptions } from './policy/options.js';
import type { KubeConfigLike } from './tokenreview/client-node.js';
import type { TokenReviewOptions } from './tokenreview/options.js';

/**
 * How tokens are verified:
 * - `'jwks'`: locally, signature against the issuer's keys; no apiserver call per token.
 * - `'tokenreview'`: by the apiserver (TokenReview); notices revoked tokens (deleted pod, secret,
 *   service account) within `tokenReview.cacheTtl`; needs `@kubernetes/client-node`.
 * - `'hybrid'`: `jwks` first (garbage and forgeries never cost an apiserver call), then
 *   TokenReview for revocation; a token that verifies locally but that the apiserver refuses is
 *   `revoked`. Needs `@kubernetes/client-node`.
 */
export type VerifierMode = 'jwks' | 'tokenreview' | 'hybrid';

/** JWS algorithms the verifier can check. `none` and the HMAC algorithms are never accepted. */
export type JwsAlgorithm =
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512';

/** One public key in JWK form (RFC 7517), as served by an issuer's `jwks_uri`. */
export interface JsonWebKey {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  key_ops?: string[];
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
  [parameter: string]: unknown;
}

/** A JSON Web Key Set, `{ "keys": [...] }`. */
export interface JsonWebKeySet {
  keys: JsonWebKey[];
}

/**
 * Where an issuer's keys come from and how they are fetched. Exactly one source is used, in
 * this order of precedence: `keys` (static, no network), `uri` (a JWKS URL fetched directly),
 * `discovery` (an OpenID discovery document whose `issuer` must equal the configured issuer and
 * whose `jwks_uri` is then fetched). With none of them, discovery runs on the issuer URL itself.
 */
export interface JwksOptions {
  /**
   * OpenID discovery: either the base URL (`/.well-known/openid-configuration` is appended) or
   * the full document URL. The document's `issuer` must equal the configured issuer exactly.
   * Env: `APISERVER_TOKEN_DISCOVERY_URL`. Default: the issuer URL.
   */
  discovery?: string;
  /**
   * The JWKS URL, fetched directly without discovery (for example
   * `https://kubernetes.default.svc/openid/v1/jwks`). Must be `https:` unless `allowInsecureHttp`.
   * Env: `APISERVER_TOKEN_JWKS_URI`. Default: none.
   */
  uri?: string;
  /**
   * A static key set for air-gapped setups: the JWKS object itself, or the path of a JSON file
   * holding it (read once at construction). Env: `APISERVER_TOKEN_JWKS_FILE`. Default: none.
   */
  keys?: JsonWebKeySet | string;
  /**
   * PEM CA certificate(s) trusted for the discovery and JWKS endpoints; replaces the system
   * roots. Default: the system roots (or the pod's `ca.crt` for the in-cluster apiserver).
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Path of a PEM CA bundle, re-read on every fetch (CA rotation needs no restart).
   * Env: `APISERVER_TOKEN_CA_FILE`. Default: none.
   */
  caFile?: string;
  /**
   * Path of a file holding a bearer token sent with every discovery/JWKS fetch to the discovery
   * URL's origin or to an explicit `uri` (never to a discovered `jwks_uri` on another origin, even
   * the issuer's: set `uri` if that host needs it). Re-read on every fetch, because a pod's
   * projected token rotates.
   * Env: `APISERVER_TOKEN_CREDENTIAL_FILE`. Default: none (the pod's own token for the in-cluster apiserver).
   */
  credentialFile?: string;
  /** Timeout of one fetch, connection to last byte, in milliseconds. Env: `APISERVER_TOKEN_JWKS_TIMEOUT`. Default: `5000`. */
  timeout?: number;
  /** Largest accepted response body, in bytes. Default: `1048576` (1 MiB). */
  maxBytes?: number;
  /**
   * Minimum time between two refetches triggered by an unknown `kid`, in seconds, so that a
   * flood of forged key ids cannot hammer the issuer. Env: `APISERVER_TOKEN_JWKS_COOLDOWN`. Default: `15`.
   */
  cooldown?: number;
  /**
   * How long keys already held keep being used while the issuer cannot be reached, counted from
   * the end of their freshness (`Cache-Control: max-age`), in seconds. After that, requests fail
   * with 503 `issuer_unavailable`. Env: `APISERVER_TOKEN_JWKS_MAX_STALE`. Default: `3600`.
   */
  maxStale?: number;
  /** Freshness of a key set fetched without `Cache-Control: max-age`, in seconds. Default: `300`. */
  defaultMaxAge?: number;
  /** Lower bound applied to the issuer's `max-age`, in seconds. Default: `30`. */
  minMaxAge?: number;
  /** Upper bound applied to the issuer's `max-age`, in seconds. Default: `86400`. */
  maxMaxAge?: number;
  /**
   * Accept a discovered `jwks_uri` on another origin than the issuer (and the discovery URL).
   * The credential is never sent to such an origin. Default: `false`.
   */
  allowCrossOriginJwksUri?: boolean;
  /** Allow `http:` URLs (tests, sidecars on loopback). Never sends the credential over them. Default: `false`. */
  allowInsecureHttp?: boolean;
}

/** One issuer and where its keys come from (multi-cluster setups list several). */
export interface IssuerOptions {
  /** The exact `iss` of the tokens, e.g. `https://kubernetes.default.svc.cluster.local`. */
  issuer: string;
  /**
   * Key source and fetch settings of this issuer. Fetch settings not set here fall back to the
   * top-level {@link VerifierOptions.jwks}; the key source and `credentialFile` never do (one
   * cluster's credential is never sent to another). Default: discovery on `issuer`.
   */
  jwks?: JwksOptions;
}

/** The verified-result cache. */
export interface CacheOptions {
  /** Most entries held (least recently used evicted). `0` disables the cache. Env: `APISERVER_TOKEN_CACHE_MAX`. Default: `10000`. */
  max?: number;
  /** Longest life of a verified entry, in seconds; always capped by the token's `exp`. Env: `APISERVER_TOKEN_CACHE_TTL`. Default: `300`. */
  ttl?: number;
  /**
   * Life of a cached local rejection (401 only, never 503, never what the cheap pre-check
   * refuses), in seconds. The apiserver's "no" (`token_rejected`, `revoked`) is kept for
   * `tokenReview.failureCacheTtl` instead. Default: `0` (local rejections are not cached).
   */
  failureTtl?: number;
}

/** Where the in-cluster defaults look; injectable so tests can point them at temporary files. */
export interface InClusterOptions {
  /** The pod's service-account token, re-read on every fetch. Default: `/var/run/secrets/kubernetes.io/serviceaccount/token`. */
  tokenPath?: string;
  /** The cluster CA. Default: `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`. */
  caPath?: string;
  /** The apiserver's in-cluster URL. Default: `https://kubernetes.default.svc`. */
  url?: string;
}

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /**
   * The audience(s) a token must carry at least one of: your webhook's URL as the apiserver
   * calls it, e.g. `https://my-webhook.my-ns.svc:443/validate`. Required, no default.
   * Env: `APISERVER_TOKEN_AUDIENCE` (comma-separated).
   */
  audience?: string | string[];
  /** How tokens are verified. Env: `APISERVER_TOKEN_MODE`. Default: `'jwks'`. */
  mode?: VerifierMode;
  /**
   * The exact `iss` value(s) accepted. Keys come from {@link VerifierOptions.jwks}.
   * Env: `APISERVER_TOKEN_ISSUER` (comma-separated). Default: none; in a pod with no issuer and
   * no key source configured, the in-cluster apiserver's issuer is discovered. In `tokenreview`
   * mode it is optional and only pre-checks tokens (no keys are fetched).
   */
  issuer?: string | string[];
  /** Key source and fetch settings for {@link VerifierOptions.issuer}, and defaults for {@link VerifierOptions.issuers}. */
  jwks?: JwksOptions;
  /** Issuers with their own key source (multi-cluster). Combined with {@link VerifierOptions.issuer}. Default: none. */
  issuers?: IssuerOptions[];
  /**
   * Credentials for the apiserver calls of the `tokenreview`/`hybrid` modes: a `KubeConfig` from
   * `@kubernetes/client-node`, the path of a kubeconfig file, or `'in-cluster'` (the pod's
   * service-account token, re-read as it rotates, and `ca.crt`; see {@link VerifierOptions.inCluster}).
   * Env: `APISERVER_TOKEN_KUBECONFIG`. Default: the first file of `KUBECONFIG`, else in-cluster in a
   * pod, else `~/.kube/config`.
   */
  kubeconfig?: string | KubeConfigLike;
  /** TokenReview calls of the `tokenreview`/`hybrid` modes: timeouts, retries, limits, cache TTLs. */
  tokenReview?: TokenReviewOptions;
  /** Verified-result cache settings. */
  cache?: CacheOptions;
  /** Leeway on `exp`, `nbf` and `iat`, in seconds, as Kubernetes uses. Env: `APISERVER_TOKEN_CLOCK_TOLERANCE`. Default: `60`. */
  clockTolerance?: number;
  /**
   * Accepted JWS algorithms. `PS*`, `RS384`, `RS512` are opt-in; `none` and `HS*` are refused at
   * construction. Env: `APISERVER_TOKEN_ALGORITHMS` (comma-separated). Default: `['RS256', 'ES256', 'ES384', 'ES512']`.
   */
  algorithms?: JwsAlgorithm[];
  /** Largest bearer token accepted, in bytes. Env: `APISERVER_TOKEN_MAX_TOKEN_BYTES`. Default: `16384`. */
  maxTokenBytes?: number;
  /**
   * Most signature verifications per second, per verifier (`jwks` and `hybrid` modes; in
   * `hybrid` it bounds the local step, before any TokenReview): a token bucket of
   * {@link VerifierOptions.verificationBurst} tokens refilled at this rate, one spent right before
   * each signature check (each key tried). A token not in the cache spends; cache hits, and what
   * the pre-check refuses first, never do, nor (in `jwks` mode) what the allow-lists
   * (`policy.serviceAccounts`, `policy.namespaces`) refuse from the unverified claims. Refusals
   * are cached only with `cache.failureTtl`: set a few seconds of it with the bound, so that one
   * forged token replayed costs one check. Beyond the bound a token is answered 503
   * `verification_throttled` with `Retry-After` (never cached), logged at `info` like a forged
   * token, and a warning says how many were refused, at most once a minute.
   *
   * The trade-off, hence no bound by default: a flood of well-formed forged tokens naming an
   * allowed account costs one signature check each (about 18 µs RS256, 48 µs ES256, on the event
   * loop), which slows every request — cached callers keep being accepted, only later. With a
   * bound the CPU is kept, but a genuine *new* token arriving during the flood is refused with
   * 503 too: kube-apiserver then applies the webhook's `failurePolicy` (admission mode answering
   * with AdmissionReviews, its default, turns it into a denial whatever the policy). Set it when your
   * webhook needs its CPU more than it needs every new token accepted at once: above the rate of
   * new tokens you expect (each caller's token changes about every 10 minutes; a restart meets
   * them all at once) and well below what one core can verify (tens of thousands of RS256 per second).
   * In a number per second; `0` for no bound. Not accepted in `tokenreview` mode, which verifies
   * no signature: bound it with `tokenReview.maxInFlight`.
   * Env: `APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND`. Default: `0` (no bound).
   */
  maxVerificationsPerSecond?: number;
  /**
   * How many signature verifications may run back to back before
   * {@link VerifierOptions.maxVerificationsPerSecond} applies: the bucket's size, full at start. A
   * whole number of at least 1; only with `maxVerificationsPerSecond`.
   * Env: `APISERVER_TOKEN_VERIFICATION_BURST`. Default: `maxVerificationsPerSecond` rounded up (at least 1).
   */
  verificationBurst?: number;
  /**
   * Accept legacy secret-based tokens (`iss: kubernetes/serviceaccount`, no audience, no expiry),
   * checked as kube-apiserver does (`sub`, and the service account's uid, name and namespace
   * required and consistent) against the keys of the issuers named here; `true` means the one
   * configured issuer and is refused with several, since a legacy token does not say which
   * cluster signed it. The identity's `signingIssuer` names the issuer whose key verified it. A
   * migration-only escape hatch: such tokens never expire and are not bound to your audience.
   * In `tokenreview` mode only `true`/`false`. Env: `APISERVER_TOKEN_ALLOW_LEGACY_TOKENS`
   * (`true`/`false` or comma-separated issuers). Default: `false`.
   */
  allowLegacyTokens?: boolean | string[];
  /**
   * `false` turns on observe mode, for rolling enforcement out: every request is still verified
   * exactly as when enforcing (same checks, same cache, same policy), the verdict is logged and
   * counted, the identity is attached only when verified — and the adapters let the request go
   * on either way. Loud by design: a warning at construction and `enforcing: false` in
   * `health()`. `verify()` itself still rejects; only the adapters (`createHttpAuthenticator`)
   * let a rejected request through. Env: `APISERVER_TOKEN_ENFORCE`. Default: `true`.
   */
  enforce?: boolean;
  /**
   * A pino-compatible logger. Receives the conditions an operator must act on (otherwise reported
   * as process warnings) and each verdict: a rejection's code, precise reason and the token's
   * fingerprint (never the token) at `info` (`warn` for a 503 or in observe mode), a verified
   * token at `debug`. Without it, the adapters log each request's verdict through the framework's
   * request logger when there is one (Fastify's `request.log`, pino-http's `req.log`,
   * koa-pino-logger's `ctx.log`), so that lines carry the request id. Default: none.
   */
  logger?: Logger;
  /**
   * Where the conditions an operator must act on go (keys unreachable, issuer mismatch, JWKS keys
   * skipped, TokenReviews impossible, clock skew, observe mode), each once per condition and cause,
   * with the fix, never per request and never with a token — when they should go elsewhere than
   * `logger`, or to a logger while verdicts stay with the framework's request logger. The Fastify
   * plugin sets it to `fastify.log` when neither this nor `logger` is given and Fastify's logger
   * prints warnings. Default: `logger`; without either, `process.emitWarning` with an
   * `APISERVER_TOKEN_*` code.
   */
  diagnosticsLogger?: Logger;
  /** The clock, in milliseconds since the epoch; for deterministic tests. Default: `Date.now`. */
  now?: () => number;
  /** The environment read for `APISERVER_TOKEN_*` and in-cluster detection. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** In-cluster locations, or `false` to never use in-cluster defaults. Default: the standard pod paths. */
  inCluster?: InClusterOptions | false;
  /**
   * Who may call, once authenticated: allow-lists (service accounts, usernames, groups,
   * namespaces), a predicate, a SubjectAccessReview. Every configured part must allow; evaluated
   * on every request, cached tokens included. Env: `APISERVER_TOKEN_ALLOWED_*`. Default: none
   * (every verified caller is allowed).
   */
  policy?: PolicyOptions;
  /**
   * Admission-aware verification (KEP-6060): `true` or its options. Reads each request's
   * AdmissionReview and checks a webhook-bound token's attested API groups (and, optionally, its
   * webhook configuration) against it. Env: `APISERVER_TOKEN_ADMISSION`. Default: off.
   */
  admission?: boolean | AdmissionOptions;
  /**
   * Client certificates on a TLS server, instead of (`'accept'`) or in addition to (`'require'`)
   * the bearer token. Env: `APISERVER_TOKEN_CLIENT_CERTIFICATE`. Default: off.
   */
  clientCertificate?: ClientCertificateOptions;
  /**
   * Export metrics (all named `apiserver_token_*`): requests by outcome, code and `verified_by`;
   * verification latency by cache hit/miss; cache entries, hits, misses, evictions; JWKS
   * refreshes, keys held, key-set age and last success; TokenReviews by result, in flight, queued,
   * refused at the cap; SubjectAccessReviews by decision. Labels take a few enumerated values
   * only (never a user, token or path).
   * - `true`: prom-client's default registry (`register`).
   * - `{ registry }`: a prom-client 15 `Registry`.
   * - `{ meter }`: an OpenTelemetry `Meter` from `@opentelemetry/api` 1.x.
   *
   * `prom-client` and `@opentelemetry/api` are optional peer dependencies: without `metrics`
   * neither is loaded and the request path does no metrics work at all; a missing `prom-client`
   * fails construction with the command that installs it. Default: off.
   */
  metrics?: MetricsOptions;
}
