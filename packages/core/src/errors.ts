/**
 * Every failure the verifier reports is an {@link ApiserverTokenError}: a stable `code` for
 * programs, an HTTP `status`, the headers a response must carry, and a generic `description`
 * that is safe to show to the caller. The precise reason (`message`) is for logs only: it may
 * say which check failed, which helps an attacker probe, so adapters never send it.
 *
 * @packageDocumentation
 */

/** Stable machine-readable error codes. */
export type ApiserverTokenErrorCode =
  | 'missing_token'
  | 'malformed_authorization'
  | 'token_too_large'
  | 'malformed_token'
  | 'algorithm_not_allowed'
  | 'unknown_issuer'
  | 'audience_mismatch'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'invalid_signature'
  | 'unknown_key'
  | 'legacy_token'
  | 'token_rejected'
  | 'revoked'
  | 'forbidden'
  | 'attestation_mismatch'
  | 'invalid_client_certificate'
  | 'malformed_admission_review'
  | 'admission_review_too_large'
  | 'issuer_unavailable'
  | 'apiserver_unavailable'
  | 'verification_throttled';

/** Options accepted by every error constructor. */
export interface ApiserverTokenErrorOptions {
  /** The underlying error, kept for logs. */
  cause?: unknown;
  /** Seconds after which a client may retry (503 only). */
  retryAfter?: number;
}

/**
 * Base class of every error the library throws for a request. Never thrown for bad
 * configuration: that is a plain `TypeError`/`ApiserverTokenConfigError` at construction.
 */
export abstract class ApiserverTokenError extends Error {
  /** Stable code, one of {@link ApiserverTokenErrorCode}. */
  abstract readonly code: ApiserverTokenErrorCode;
  /**
   * HTTP status an adapter renders: 401, 403 or 503; 400 and 413 only for an unreadable or
   * oversized AdmissionReview in admission mode.
   */
  abstract readonly status: 400 | 401 | 403 | 413 | 503;
  /** Generic text safe to show the caller; never names the failed check. */
  abstract readonly description: string;
  /** Seconds a client should wait before retrying, for 503 errors. */
  readonly retryAfter: number | undefined;

  constructor(message: string, options: ApiserverTokenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryAfter = options.retryAfter;
  }

  /** Alias of {@link status}, for frameworks that read `statusCode`. */
  get statusCode(): number {
    return this.status;
  }

  /** Response headers this error requires (`WWW-Authenticate`, `Retry-After`). */
  get headers(): Record<string, string> {
    if (this.status === 401) {
      return { 'www-authenticate': `Bearer error="invalid_token", error_description="${this.description}"` };
    }
    if (this.status === 403) {
      return { 'www-authenticate': 'Bearer error="insufficient_scope"' };
    }
    if (this.status !== 503) return {};
    return { 'retry-after': String(this.retryAfter ?? 5) };
  }

  /** The JSON body an adapter sends: code and generic description only. */
  toJSON(): { error: ApiserverTokenErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}

abstract class UnauthorizedError extends ApiserverTokenError {
  readonly status = 401 as const;
  readonly description: string = 'the bearer token is missing or invalid';
}

abstract class ForbiddenError extends ApiserverTokenError {
  readonly status = 403 as const;
  readonly description: string = 'the caller is not allowed to make this request';
}

abstract class UnavailableError extends ApiserverTokenError {
  readonly status = 503 as const;
  readonly description: string = 'the token cannot be verified right now; retry later';
}

/** No `Authorization: Bearer` credential was presented. */
export class MissingTokenError extends UnauthorizedError {
  readonly code = 'missing_token' as const;
  override readonly description = 'a bearer token is required';
  override get headers(): Record<string, string> {
    // RFC 6750 §3.1: no error code when the request carried no credential at all.
    return { 'www-authenticate': 'Bearer' };
  }
}
/** The Authorization header is present but is not `Bearer <token>` (several headers, bad scheme, spaces). */
export class MalformedAuthorizationError extends UnauthorizedError {
  readonly code = 'malformed_authorization' as const;
}
/** The token is larger than `maxTokenBytes`. */
export class TokenTooLargeError extends UnauthorizedError {
  readonly code = 'token_too_large' as const;
}
/** The token is not a compact JWS with a JSON object header and claims. */
export class MalformedTokenError extends UnauthorizedError {
  readonly code = 'malformed_token' as const;
}
/** `alg` not in the allow-list, or a header asks for embedded/remote keys or unknown `crit`. */
export class AlgorithmNotAllowedError extends UnauthorizedError {
  readonly code = 'algorithm_not_allowed' as const;
}
/** `iss` is not one of the configured issuers. */
export class UnknownIssuerError extends UnauthorizedError {
  readonly code = 'unknown_issuer' as const;
}
/** `aud` does not overlap the configured audiences. */
export class AudienceMismatchError extends UnauthorizedError {
  readonly code = 'audience_mismatch' as const;
}
/** `exp` is past, beyond the clock tolerance. */
export class TokenExpiredError extends UnauthorizedError {
  readonly code = 'expired' as const;
}
/** `nbf` is in the future, beyond the clock tolerance. */
export class TokenNotYetValidError extends UnauthorizedError {
  readonly code = 'not_yet_valid' as const;
}
/** `iat` is in the future, beyond the clock tolerance. */
export class IssuedInFutureError extends UnauthorizedError {
  readonly code = 'issued_in_future' as const;
}
/** The signature does not verify with the issuer's key. */
export class InvalidSignatureError extends UnauthorizedError {
  readonly code = 'invalid_signature' as const;
}
/** No key of the issuer has the token's `kid`, even after a refetch. */
export class UnknownKeyError extends UnauthorizedError {
  readonly code = 'unknown_key' as const;
}
/** A legacy secret-based token (`iss: kubernetes/serviceaccount`) while they are not allowed. */
export class LegacyTokenError extends UnauthorizedError {
  readonly code = 'legacy_token' as const;
}
/** TokenReview answered that the token is not authenticated for our audiences. */
export class TokenRejectedError extends UnauthorizedError {
  readonly code = 'token_rejected' as const;
}
/** The token verifies locally but its bound object (pod, secret, service account) is gone. */
export class TokenRevokedError extends UnauthorizedError {
  readonly code = 'revoked' as const;
}
/** The identity is authentic but the policy does not allow it. */
export class ForbiddenIdentityError extends ForbiddenError {
  readonly code = 'forbidden' as const;
}
/** A webhook-bound token's attestation does not cover this admission request. */
export class AttestationMismatchError extends ForbiddenError {
  readonly code = 'attestation_mismatch' as const;
  override readonly description = 'the token is not attested for this request';
}
/**
 * A client certificate was required (`clientCertificate.mode: 'require'`) but none was presented,
 * or the one presented does not verify against the configured CA.
 */
export class InvalidClientCertificateError extends UnauthorizedError {
  readonly code = 'invalid_client_certificate' as const;
  override readonly description = 'a valid client certificate is required';
}
/** Admission mode: the body is not a readable `admission.k8s.io` AdmissionReview (bad JSON, missing `request.resource`). */
export class MalformedAdmissionReviewError extends ApiserverTokenError {
  readonly code = 'malformed_admission_review' as const;
  readonly status = 400 as const;
  readonly description = 'the request body is not a valid AdmissionReview';
}
/** Admission mode: the body is larger than `admission.maxBodyBytes`. */
export class AdmissionReviewTooLargeError extends ApiserverTokenError {
  readonly code = 'admission_review_too_large' as const;
  readonly status = 413 as const;
  readonly description = 'the request body is too large';
}
/** The issuer's discovery document or JWKS cannot be fetched and no usable key is held. */
export class IssuerUnavailableError extends UnavailableError {
  readonly code = 'issuer_unavailable' as const;
}
/** The apiserver (TokenReview, SubjectAccessReview) cannot be reached or is overloaded. */
export class ApiserverUnavailableError extends UnavailableError {
  readonly code = 'apiserver_unavailable' as const;
}

/**
 * More signature verifications were asked for than `maxVerificationsPerSecond` allows: the token
 * was not checked at all (neither accepted nor refused), so the caller may retry once the budget
 * refills (`Retry-After`). Only new tokens meet it: cached ones never spend the budget.
 */
export class VerificationThrottledError extends UnavailableError {
  readonly code = 'verification_throttled' as const;
}

/** Thrown at construction (never per request) when options are invalid. */
export class ApiserverTokenConfigError extends TypeError {
  /** The option path at fault, such as `jwks.timeout`. */
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`apiserver-token: invalid option \`${field}\`: ${problem}`);
    this.name = 'ApiserverTokenConfigError';
    this.field = field;
  }
}

/** True for errors thrown by this library for a request. */
export function isApiserverTokenError(value: unknown): value is ApiserverTokenError {
  return value instanceof ApiserverTokenError;
}
