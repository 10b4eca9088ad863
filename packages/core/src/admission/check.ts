import type { RequestLike } from '../contracts/verifier.js';
import { AttestationMismatchError, MalformedAdmissionReviewError } from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';
import type { ResolvedAdmission, WebhookConfigurationKind } from './options.js';
import { readAdmissionBodyOnce } from './read-body.js';

/** What the KEP-6060 checks read of an AdmissionReview. */
export interface AdmissionRequestFacts {
  uid: string;
  /** `request.resource.group`: `""` is the core group. */
  group: string;
  resource: string;
}

const AUTH = 'authentication.kubernetes.io/';
const ATTESTED_GROUPS = 'attestation.authentication.kubernetes.io/admissionReviewAPIGroups';
const MAX_UID_LENGTH = 128;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads `request.uid` and `request.resource` of an `admission.k8s.io/v1` (or v1beta1) AdmissionReview. */
export function admissionRequestFacts(body: unknown): AdmissionRequestFacts {
  if (!isObject(body) || body.kind !== 'AdmissionReview')
    throw new MalformedAdmissionReviewError('the body is not an AdmissionReview');
  if (body.apiVersion !== 'admission.k8s.io/v1' && body.apiVersion !== 'admission.k8s.io/v1beta1')
    throw new MalformedAdmissionReviewError(
      `unsupported AdmissionReview apiVersion ${JSON.stringify(body.apiVersion)}`,
    );
  const request = body.request;
  if (!isObject(request)) throw new MalformedAdmissionReviewError('the AdmissionReview has no request');
  const { uid, resource } = request;
  if (typeof uid !== 'string' || uid === '' || uid.length > MAX_UID_LENGTH)
    throw new MalformedAdmissionReviewError('request.uid is missing or invalid');
  if (
    !isObject(resource) ||
    typeof resource.group !== 'string' ||
    typeof resource.resource !== 'string' ||
    resource.resource === ''
  )
    throw new MalformedAdmissionReviewError(
      'request.resource {group, version, resource} is missing or invalid',
    );
  return { uid, group: resource.group, resource: resource.resource };
}

function single(extra: Record<string, string[]>, key: string): string | undefined {
  const values = extra[key];
  return values !== undefined && values.length > 0 && values[0] !== '' ? values[0] : undefined;
}

/**
 * The webhook configuration a token is bound to, from the identity's `extra` (claims and
 * TokenReview both fill it) and `boundObject`. Two different bindings are refused outright.
 */
export function webhookBinding(
  identity: ApiserverIdentity,
): { kind: WebhookConfigurationKind; name: string } | undefined {
  const found: Array<{ kind: WebhookConfigurationKind; name: string }> = [];
  const validating = single(identity.extra, `${AUTH}validatingwebhookconfiguration-name`);
  const mutating = single(identity.extra, `${AUTH}mutatingwebhookconfiguration-name`);
  if (validating !== undefined) found.push({ kind: 'ValidatingWebhookConfiguration', name: validating });
  if (mutating !== undefined) found.push({ kind: 'MutatingWebhookConfiguration', name: mutating });
  const bound = identity.boundObject;
  if (bound?.kind === 'ValidatingWebhookConfiguration' || bound?.kind === 'MutatingWebhookConfiguration')
    found.push({ kind: bound.kind, name: bound.name });
  const [first] = found;
  if (first === undefined) return undefined;
  if (found.some((item) => item.kind !== first.kind || item.name !== first.name))
    throw new AttestationMismatchError('the token names two different webhook configurations');
  return first;
}

function attestedGroups(identity: ApiserverIdentity): string[] | undefined {
  return identity.attestations?.admissionReviewAPIGroups ?? identity.extra[ATTESTED_GROUPS];
}

/**
 * The KEP-6060 check of one admission request: is this token allowed to ask about this
 * AdmissionReview? Throws 403 `attestation_mismatch` when not, 400/413 when the body cannot be read.
 */
export function admissionCheck(
  settings: ResolvedAdmission,
): (identity: ApiserverIdentity, request: RequestLike | undefined) => Promise<void> {
  return async (identity, request) => {
    if (request === undefined)
      throw new MalformedAdmissionReviewError('admission mode needs the request and its AdmissionReview');
    // Read only now, for a token already verified: a caller without one never makes us buffer a body.
    const { body, fromStream } = await readAdmissionBodyOnce(request, settings.maxBodyBytes);
    // The verifier's own copy of the request: later steps (the predicate, the SubjectAccessReview) see the body.
    if (fromStream && !Object.isFrozen(request)) Object.assign(request, { body, stream: undefined });
    const facts = admissionRequestFacts(body);
    const binding = webhookBinding(identity);
    const groups = attestedGroups(identity);
    if (binding === undefined) {
      if (settings.requireWebhookBinding)
        throw new AttestationMismatchError(
          `${identity.username}: the token is not bound to a webhook configuration`,
        );
      // A classic tokenFile token: nothing to check, unless it carries attestations anyway.
      if (groups === undefined) return;
    } else if (
      settings.boundTo !== undefined &&
      (binding.kind !== settings.boundTo.kind || binding.name !== settings.boundTo.name)
    ) {
      throw new AttestationMismatchError(
        `the token is bound to ${binding.kind} ${JSON.stringify(binding.name)}, not ${settings.boundTo.kind} ${JSON.stringify(settings.boundTo.name)}`,
      );
    }
    if (groups === undefined || groups.length === 0)
      throw new AttestationMismatchError(
        'the token is bound to a webhook configuration but attests no API group',
      );
    if (groups.includes('*')) return;
    // The core group "" passes only with "*": an attestation list never names it.
    if (facts.group === '' || !groups.includes(facts.group)) {
      throw new AttestationMismatchError(
        `the token attests ${JSON.stringify(groups)}, not ${JSON.stringify(facts.group)} (request ${facts.uid}, resource ${facts.resource})`,
      );
    }
  };
}
