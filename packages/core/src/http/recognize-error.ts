import { ApiserverTokenError, type ApiserverTokenErrorCode } from '../errors.js';

// Compile-time complete: adding a code to the union without listing it here fails the build.
const CODES = {
  missing_token: true,
  malformed_authorization: true,
  token_too_large: true,
  malformed_token: true,
  algorithm_not_allowed: true,
  unknown_issuer: true,
  audience_mismatch: true,
  expired: true,
  not_yet_valid: true,
  issued_in_future: true,
  invalid_signature: true,
  unknown_key: true,
  legacy_token: true,
  token_rejected: true,
  revoked: true,
  forbidden: true,
  attestation_mismatch: true,
  invalid_client_certificate: true,
  malformed_admission_review: true,
  admission_review_too_large: true,
  issuer_unavailable: true,
  apiserver_unavailable: true,
  verification_throttled: true,
} satisfies Record<ApiserverTokenErrorCode, true>;

/** The fields of an {@link ApiserverTokenError} the HTTP layer reads. */
export interface RecognizedError {
  code: ApiserverTokenErrorCode;
  status: 400 | 401 | 403 | 413 | 503;
  description: string;
  headers: Record<string, string>;
  retryAfter: number | undefined;
}

/**
 * Internal: reads an error thrown by a verifier. `instanceof` alone is not enough: when an app
 * loads the ESM build of core and an adapter the CJS build (or two copies are installed), the
 * verifier's errors come from another class than ours, and must still render as what they are.
 * Whatever is not recognised is treated as unexpected (503), so this can only narrow a failure,
 * never turn it into a success.
 */
export function recognizeError(value: unknown): RecognizedError | undefined {
  if (value instanceof ApiserverTokenError) {
    return {
      code: value.code,
      status: value.status,
      description: value.description,
      headers: value.headers,
      retryAfter: value.retryAfter,
    };
  }
  if (typeof value !== 'object' || value === null || !(value instanceof Error)) return undefined;
  const candidate = value as Partial<Record<keyof RecognizedError, unknown>>;
  const { code, status, description } = candidate;
  if (typeof code !== 'string' || !Object.hasOwn(CODES, code)) return undefined;
  if (status !== 400 && status !== 401 && status !== 403 && status !== 413 && status !== 503)
    return undefined;
  if (typeof description !== 'string') return undefined;
  const headers: Record<string, string> = {};
  if (typeof candidate.headers === 'object' && candidate.headers !== null) {
    for (const [name, headerValue] of Object.entries(candidate.headers)) {
      if (typeof headerValue === 'string') headers[name.toLowerCase()] = headerValue;
    }
  }
  const retryAfter = typeof candidate.retryAfter === 'number' ? candidate.retryAfter : undefined;
  return { code: code as ApiserverTokenErrorCode, status, description, headers, retryAfter };
}
