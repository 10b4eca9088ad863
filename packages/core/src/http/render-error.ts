import type { ApiserverTokenErrorCode } from '../errors.js';
import { recognizeError } from './recognize-error.js';

/**
 * `error` value of a response to a failure that is not an {@link ApiserverTokenError}: a bug,
 * a throwing hook, anything unforeseen. RFC 6749's name for "try again later".
 */
export type UnexpectedErrorCode = 'temporarily_unavailable';

/** JSON body of an error response: a stable code and a generic description, never the token or the precise reason. */
export interface ErrorResponseBody {
  /** The error's stable `code`, or `temporarily_unavailable` for an unexpected failure. */
  error: ApiserverTokenErrorCode | UnexpectedErrorCode;
  /** Generic, caller-safe text. */
  error_description: string;
}

/** A ready-to-send HTTP error response. */
export interface ErrorResponse {
  /**
   * 401 (bad or missing token), 403 (authentic but not allowed) or 503 (cannot verify now; also
   * every unexpected error); in admission mode 400 (not an AdmissionReview) or 413 (body too large).
   */
  status: 400 | 401 | 403 | 413 | 503;
  /**
   * Lower-case header names: `www-authenticate` (401, 403), `retry-after` in seconds (503),
   * `cache-control: no-store` and `content-type: application/json; charset=utf-8` (always).
   */
  headers: Record<string, string>;
  /** Send as JSON. */
  body: ErrorResponseBody;
}

/** Seconds a caller is told to wait after a 503 whose error did not say. */
const DEFAULT_RETRY_AFTER = 5;

const UNEXPECTED_DESCRIPTION = 'the request cannot be verified right now; retry later';

// A header value we send must be one visible-ASCII line: a value with CR/LF would split the response.
const SAFE_HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Turns anything a verifier (or a hook) threw into the HTTP response an adapter sends.
 *
 * An `ApiserverTokenError` keeps its status and headers (`WWW-Authenticate: Bearer
 * error="invalid_token"` on 401, `Retry-After` on 503) and its `toJSON()` body. Anything else
 * becomes a generic 503 with `Retry-After`: never a 500, and never the thrown message, which may
 * say more than a caller should learn. Errors from another copy of the core (dual ESM/CJS
 * loading) are recognised by shape.
 *
 * @example
 * ```ts
 * const { status, headers, body } = renderError(error);
 * res.writeHead(status, headers).end(JSON.stringify(body));
 * ```
 */
export function renderError(error: unknown): ErrorResponse {
  const known = recognizeError(error);
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'content-type': 'application/json; charset=utf-8',
  };
  if (known === undefined) {
    headers['retry-after'] = String(DEFAULT_RETRY_AFTER);
    return {
      status: 503,
      headers,
      body: { error: 'temporarily_unavailable', error_description: UNEXPECTED_DESCRIPTION },
    };
  }
  const ownHeaders = known.headers;
  if (known.status === 503) {
    headers['retry-after'] = retryAfterSeconds(ownHeaders['retry-after'], known.retryAfter);
  } else if (known.status === 401 || known.status === 403) {
    const challenge = ownHeaders['www-authenticate'];
    headers['www-authenticate'] =
      challenge !== undefined && SAFE_HEADER_VALUE.test(challenge)
        ? challenge
        : known.status === 401
          ? 'Bearer error="invalid_token"'
          : 'Bearer error="insufficient_scope"';
  }
  return { status: known.status, headers, body: { error: known.code, error_description: known.description } };
}

function retryAfterSeconds(header: string | undefined, retryAfter: number | undefined): string {
  if (header !== undefined && /^\d{1,9}$/.test(header)) return header;
  if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0) {
    return String(Math.ceil(retryAfter));
  }
  return String(DEFAULT_RETRY_AFTER);
}
