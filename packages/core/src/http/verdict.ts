import type { ApiserverTokenErrorCode } from '../errors.js';
import { recognizeError } from './recognize-error.js';
import type { UnexpectedErrorCode } from './render-error.js';

/**
 * What happened to one request, as counted and logged:
 * - `accepted`: verified and allowed; the identity is attached.
 * - `rejected`: refused (401, 403, or 400/413 for an unreadable AdmissionReview).
 * - `unavailable`: could not be verified now (503: keys or apiserver unreachable, unexpected error).
 * - `observed`: observe mode (`enforce: false`) let through a request that enforcing mode would
 *   have rejected or failed; no identity is attached.
 */
export type VerdictOutcome = 'accepted' | 'rejected' | 'unavailable' | 'observed';

/** The verdict on one request: its outcome and, unless accepted, the error's code and status. */
export interface Verdict {
  outcome: VerdictOutcome;
  /** The error's stable code; `temporarily_unavailable` for an unexpected failure; undefined when accepted. */
  code: ApiserverTokenErrorCode | UnexpectedErrorCode | undefined;
  /** The status enforcing mode answers (or would have answered); undefined when accepted. */
  status: number | undefined;
}

const ACCEPTED: Verdict = Object.freeze({ outcome: 'accepted', code: undefined, status: undefined });

/**
 * The one place where a request's outcome is decided, so that what is logged, counted and done
 * with the request always agree. `failure` undefined: the request was verified and allowed.
 */
export function decideVerdict(failure: { error: unknown } | undefined, enforcing: boolean): Verdict {
  if (failure === undefined) return ACCEPTED;
  const known = recognizeError(failure.error);
  const code = known?.code ?? 'temporarily_unavailable';
  const status = known?.status ?? 503;
  if (!enforcing) return { outcome: 'observed', code, status };
  return { outcome: status === 503 ? 'unavailable' : 'rejected', code, status };
}
