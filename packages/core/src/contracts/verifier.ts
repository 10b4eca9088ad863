import type { ApiserverIdentity } from '../identity.js';
import type { PrecheckedToken } from '../jwt/precheck.js';

/**
 * Request headers as Node's `IncomingHttpHeaders` (lower-case keys, arrays for repeated
 * headers) or a WHATWG `Headers`-like object with `get()`.
 */
export type HeadersLike =
  | Readonly<Record<string, string | string[] | undefined>>
  | { get(name: string): string | null };

/** The parts of an incoming request the verifier reads. Framework-free. */
export interface RequestLike {
  headers: HeadersLike;
  /** Parsed body, when a body parser ran (admission-aware mode reads the AdmissionReview). */
  body?: unknown;
  /**
   * The connection's socket. On a TLS server with `requestCert: true` it is a `tls.TLSSocket`,
   * whose `authorized` and `getPeerCertificate()` the `clientCertificate` option reads. Headers
   * never stand in for it.
   */
  socket?: unknown;
  /**
   * The raw request body as a stream (Node's `IncomingMessage`), for admission mode when no body
   * parser ran: the AdmissionReview is then read from it (capped at `admission.maxBodyBytes`).
   * Only read when `body` is undefined and the stream has not been read yet.
   */
  stream?: AsyncIterable<Uint8Array | string>;
  /**
   * Node's raw header list (`IncomingMessage.rawHeaders`), when available: Node keeps only the
   * first of several `Authorization` headers in `headers`, this shows them all so they are refused.
   */
  rawHeaders?: readonly string[];
}

/** A verifier made by `createVerifier()`. */
export interface ApiserverTokenVerifier {
  /** Extract the bearer token from the request, verify it, apply the policy; resolves to the identity or rejects with an `ApiserverTokenError`. */
  verify(request: RequestLike): Promise<ApiserverIdentity>;
  /**
   * Verify a bare token (no header parsing); the policy still applies, with `request` (when given)
   * as the request it sees. Admission mode needs the request's AdmissionReview in `request.body`.
   */
  verifyToken(token: string, request?: RequestLike): Promise<ApiserverIdentity>;
  /**
   * Admission mode's settings when `admission` is on, so the HTTP layer knows to read the
   * AdmissionReview and how to answer failures; undefined otherwise.
   */
  readonly admission?: Readonly<{ respond: 'admission-review' | 'http'; maxBodyBytes: number }>;
  /**
   * False in observe mode (`enforce: false`): the adapters let requests that fail verification
   * go on, with no identity attached.
   */
  readonly enforcing: boolean;
  /** Resolves once keys are loaded (jwks) / credentials are usable (tokenreview); for readiness probes. */
  ready(): Promise<void>;
  /** A synchronous snapshot of the verifier's state, for `/readyz` handlers and dashboards. */
  health(): VerifierHealth;
  /** Releases timers and sockets. Idempotent. */
  close(): Promise<void>;
}

/**
 * Internal: one way of verifying a token (jwks, tokenreview). The pipeline around it does
 * extraction, the unverified pre-check, caching, coalescing and the policy.
 */
export interface TokenStrategy {
  readonly name: 'jwks' | 'tokenreview';
  /**
   * Verify a token that passed the pre-check. Resolves to a new identity object, not shared
   * with anything else (the pipeline adds `tokenFingerprint` and `verifiedBy` to it in place,
   * then freezes it); rejects with an `ApiserverTokenError`. `expiresAt` caps the cache TTL.
   */
  verify(
    token: string,
    context?: StrategyContext,
  ): Promise<Omit<ApiserverIdentity, 'tokenFingerprint' | 'verifiedBy'>>;
  /**
   * {@link TokenStrategy.verify}, but answered synchronously when nothing needs waiting for (jwks
   * with its keys held): an identity, or a thrown `ApiserverTokenError`; a promise otherwise. The
   * pipeline then completes a cache miss without a microtask hop. Optional: a strategy without it
   * is always awaited.
   */
  verifyNow?(
    token: string,
    context?: StrategyContext,
  ):
    | Omit<ApiserverIdentity, 'tokenFingerprint' | 'verifiedBy'>
    | Promise<Omit<ApiserverIdentity, 'tokenFingerprint' | 'verifiedBy'>>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Internal: what the pipeline already knows about a token when it calls a strategy. */
export interface StrategyContext {
  /** The token decoded by the pre-check (absent when the pipeline runs without one). */
  prechecked?: PrecheckedToken;
  /** The token's fingerprint, for log lines (computed once per miss by the pipeline). */
  fingerprint?: string;
  /** The identity established by the previous strategy of the list (hybrid: jwks, then tokenreview). */
  previous?: Omit<ApiserverIdentity, 'tokenFingerprint' | 'verifiedBy'>;
}

/** One key set in a {@link VerifierHealth} snapshot. */
export interface KeySetHealth {
  /** Where the keys come from: the JWKS or discovery URL, or the static source. */
  source: string;
  /** Keys held now (0 before the first successful fetch). */
  keys: number;
  /** Seconds since the keys held were fetched; undefined when none are held (or they are static). */
  ageSeconds: number | undefined;
  /** True while the keys held are within their `max-age`. */
  fresh: boolean;
  /** Why the last fetch failed, when it did and no fetch has succeeded since. Never holds a token. */
  lastError: string | undefined;
}

/** `verifier.health()`: what a readiness handler or an operator needs to see at a glance. */
export interface VerifierHealth {
  mode: 'jwks' | 'tokenreview' | 'hybrid';
  /** False in observe mode: requests that fail verification are let through. */
  enforcing: boolean;
  /** True when the verifier can verify a token now: keys held (jwks, hybrid) and, with TokenReview, the client loaded. */
  ready: boolean;
  /** One entry per key source (empty in `tokenreview` mode). */
  keySets: KeySetHealth[];
  /** The verified-result cache: entries held and the most it holds. */
  cache: { size: number; max: number };
  /** TokenReview calls (tokenreview, hybrid): in flight, queued, and the last failure. */
  tokenReview?: { inFlight: number; queued: number; lastError: string | undefined };
  /** Conditions an operator should know about, in plain words (observe mode, keys unavailable, ...). */
  warnings: string[];
}
