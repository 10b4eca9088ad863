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
  /** Resolves once keys are loaded (jwks) / credentials are usable (tokenreview); for readiness probes. */
  ready(): Promise<void>;
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
