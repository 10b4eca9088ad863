import { recognizeError } from './recognize-error.js';

/** `apiVersion` of the AdmissionReviews kube-apiserver sends (`admissionReviewVersions`). */
export type AdmissionReviewVersion = 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1';

/** An AdmissionReview that denies the request it answers. */
export interface AdmissionDenialBody {
  apiVersion: AdmissionReviewVersion;
  kind: 'AdmissionReview';
  response: {
    /** The `request.uid` of the AdmissionReview answered, echoed as kube-apiserver requires. */
    uid: string;
    allowed: false;
    /** A `metav1.Status`; kube-apiserver shows `message` to the user whose request was denied. */
    status: {
      status: 'Failure';
      code: 400 | 401 | 403 | 413 | 503;
      reason: 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'RequestEntityTooLarge' | 'ServiceUnavailable';
      message: string;
    };
  };
}

/** A ready-to-send denial: HTTP 200 with an AdmissionReview body. */
export interface AdmissionDenialResponse {
  status: 200;
  /** `cache-control: no-store`, `content-type: application/json; charset=utf-8`. */
  headers: Record<string, string>;
  /** Send as JSON. */
  body: AdmissionDenialBody;
}

const REASONS = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  413: 'RequestEntityTooLarge',
  503: 'ServiceUnavailable',
} as const;

/** Longest `request.uid` echoed; Kubernetes uids are 36 characters. */
const MAX_UID_LENGTH = 128;

/**
 * Renders a failure as an AdmissionReview denial (`allowed: false`, HTTP 200) answering the
 * AdmissionReview in `requestBody`, with the error's status as `status.code`.
 *
 * Why: an HTTP 401/403/503 is a *webhook call failure* to kube-apiserver, and with
 * `failurePolicy: Ignore` a failed call lets the object through; a denial is honoured whatever
 * the failure policy, so a forged or unverifiable request can never become an allow. The user
 * sees `status.message`: the generic description and the stable code, never the precise reason.
 *
 * Returns `undefined` when `requestBody` is not an AdmissionReview with a `request.uid` (the
 * body was not parsed, or the caller is not an apiserver): send the HTTP error instead.
 */
export function renderAdmissionDenial(
  error: unknown,
  requestBody: unknown,
): AdmissionDenialResponse | undefined {
  const review = readAdmissionReview(requestBody);
  if (review === undefined) return undefined;
  const known = recognizeError(error);
  const code = known?.status ?? 503;
  const message =
    known === undefined
      ? 'apiserver-token: the request cannot be verified right now (temporarily_unavailable)'
      : `apiserver-token: ${known.description} (${known.code})`;
  return {
    status: 200,
    headers: { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' },
    body: {
      apiVersion: review.apiVersion,
      kind: 'AdmissionReview',
      response: {
        uid: review.uid,
        allowed: false,
        status: { status: 'Failure', code, reason: REASONS[code], message },
      },
    },
  };
}

/** Internal: the `apiVersion` and `request.uid` of an AdmissionReview body, if it is one. */
export function readAdmissionReview(
  body: unknown,
): { apiVersion: AdmissionReviewVersion; uid: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { apiVersion, kind, request } = body as Record<string, unknown>;
  if (kind !== 'AdmissionReview') return undefined;
  if (apiVersion !== 'admission.k8s.io/v1' && apiVersion !== 'admission.k8s.io/v1beta1') return undefined;
  if (typeof request !== 'object' || request === null) return undefined;
  const { uid } = request as Record<string, unknown>;
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > MAX_UID_LENGTH) return undefined;
  return { apiVersion, uid };
}
