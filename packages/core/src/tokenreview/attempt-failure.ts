import { scrubbedMessage, scrubUpstreamText } from '../lib/scrub.js';
import { parseRetryAfter } from './backoff.js';

/** Why one TokenReview attempt produced no verdict, and whether trying again may help. */
export interface AttemptFailure {
  retryable: boolean;
  /** For logs. */
  reason: string;
  /** HTTP status of the apiserver's answer, when it answered. */
  status?: number;
  /** The server's `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  /** The apiserver refused our own credentials (401/403): a deployment error, logged loudly. */
  misconfiguration?: boolean;
}

/** Statuses Kubernetes' webhook client retries (`DefaultShouldRetry`): overload and transient server errors. */
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Socket-level errors where the connection broke under the request (Node and undici spellings). */
const RESET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_HTTP2_STREAM_ERROR',
]);

/**
 * The `Retry-After` (seconds) a caller is told after a failure: the apiserver's own, within 1–60 s,
 * or 1 s when it gave none (or when we shed load ourselves).
 */
export function retryAfterSeconds(failure: AttemptFailure | undefined): number {
  const ms = failure?.retryAfterMs;
  if (ms === undefined) return 1;
  return Math.min(60, Math.max(1, Math.ceil(ms / 1000)));
}

/** Marks an attempt abandoned by our own per-attempt timeout. */
export class AttemptTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    const errno = (current as { errno?: unknown }).errno;
    if (typeof errno === 'string') codes.push(errno);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

function headerOf(headers: unknown, name: string): unknown {
  if (typeof headers !== 'object' || headers === null) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): unknown }).get(name) ?? undefined;
  }
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

/**
 * The `message` of the Kubernetes `Status` an error answer carried, scrubbed and cut. client-node
 * hands the body over parsed for the statuses its API declares and as text for the others.
 */
function statusMessage(raw: unknown, secrets: readonly (string | undefined)[]): string {
  let body = raw;
  if (typeof raw === 'string' && raw.length <= 65_536) {
    try {
      body = JSON.parse(raw);
    } catch {
      return '';
    }
  }
  if (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { message?: unknown }).message === 'string'
  ) {
    const message = scrubUpstreamText((body as { message: string }).message, secrets);
    return `: ${JSON.stringify(message.slice(0, 300))}`;
  }
  return '';
}

/**
 * Classify what a client call threw: an HTTP error status from the apiserver (client-node's
 * `ApiException`, with a numeric `code`), our timeout, or a transport error. The reason quotes
 * upstream text with `secrets` (the token under review) and anything JWT-shaped scrubbed.
 */
export function classifyAttemptFailure(
  error: unknown,
  nowMs: number,
  what: 'TokenReview' | 'SubjectAccessReview' = 'TokenReview',
  secrets: readonly (string | undefined)[] = [],
): AttemptFailure {
  if (error instanceof AttemptTimeoutError)
    return { retryable: false, reason: `${what} timed out: ${error.message}` };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && code >= 100 && code <= 599) {
    const detail = statusMessage((error as { body?: unknown }).body, secrets);
    if (code === 401 || code === 403) {
      return {
        retryable: false,
        status: code,
        misconfiguration: true,
        reason:
          `the apiserver refused our ${what} with HTTP ${code}${detail}: the verifier's credentials are ` +
          'missing, invalid or lack permission (bind the ClusterRole system:auth-delegator to its service account)',
      };
    }
    const failure: AttemptFailure = {
      retryable: RETRYABLE_STATUSES.has(code),
      status: code,
      reason: `the apiserver answered the ${what} with HTTP ${code}${detail}`,
    };
    const retryAfterMs = parseRetryAfter(
      headerOf((error as { headers?: unknown }).headers, 'retry-after'),
      nowMs,
    );
    if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs;
    return failure;
  }
  const codes = errorCodes(error);
  const message = scrubbedMessage(error, secrets);
  const reset = codes.some((value) => RESET_CODES.has(value)) || /socket hang up/i.test(message);
  const label = scrubUpstreamText(codes[0] ?? (error instanceof Error ? error.name : 'error'), secrets);
  return { retryable: reset, reason: `${what} request failed (${label}): ${message.slice(0, 200)}` };
}
