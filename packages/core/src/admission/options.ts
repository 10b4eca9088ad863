/**
 * Options of admission-aware verification (`createVerifier({ admission })`, KEP-6060).
 *
 * @packageDocumentation
 */

import { ApiserverTokenConfigError } from '../errors.js';
import { ENV_PREFIX, envBoolean, envString } from '../lib/env.js';
import { assertKnownKeys } from '../lib/known-keys.js';

/** The kinds of webhook configuration a KEP-6060 token can be bound to. */
export type WebhookConfigurationKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';

/**
 * Admission-aware verification: once the token is verified (from the headers, before any body is
 * read), the request's AdmissionReview (`admission.k8s.io/v1`) is read (from the parsed body, or
 * from the raw request, capped at `maxBodyBytes`) and a token bound to
 * a webhook configuration must be attested for the reviewed resource's API group
 * (`kubernetes.io.attestations.admissionReviewAPIGroups` must hold `request.resource.group` or
 * `*`; the core group `""` passes only with `*`). `request.resource.group` is compared, never the
 * group of `object.apiVersion`, which legitimately differs for subresources (`deployments/scale`
 * sends an `autoscaling/v1` Scale). A bound token without attestation is refused; a mismatch is
 * 403 `attestation_mismatch`.
 *
 * A token NOT bound to a webhook configuration (a classic `tokenFile` token from the admission
 * kubeconfig) is accepted by default, as it carries nothing to check; set
 * `requireWebhookBinding: true` once your clusters issue KEP-6060 tokens.
 */
export interface AdmissionOptions {
  /**
   * Require the token to be bound to this webhook configuration (kind and name); a token bound to
   * another configuration is 403 `attestation_mismatch`. Implies nothing about unbound tokens: see
   * `requireWebhookBinding`. Env: `APISERVER_TOKEN_ADMISSION_BOUND_TO` as `<Kind>/<name>`.
   * Default: any webhook configuration.
   */
  boundTo?: { kind: WebhookConfigurationKind; name: string };
  /**
   * Refuse tokens that are not bound to a webhook configuration (403 `attestation_mismatch`).
   * Env: `APISERVER_TOKEN_ADMISSION_REQUIRE_WEBHOOK_BINDING`. Default: `false`.
   */
  requireWebhookBinding?: boolean;
  /**
   * How the adapters answer failures in admission mode.
   * - `'admission-review'`: an AdmissionReview denial (HTTP 200, `allowed: false`, `status.code`
   *   400/401/403/503, the request `uid` echoed), so that `failurePolicy: Ignore` can never
   *   admit a forged request. A body that is not an AdmissionReview (or too large) gets HTTP.
   * - `'http'`: plain 401/403/503 answers.
   *
   * The adapter option `respond` (or `APISERVER_TOKEN_RESPOND`) overrides it. Default: `'admission-review'`.
   */
  respond?: 'admission-review' | 'http';
  /** Largest AdmissionReview read, in bytes; larger bodies are refused with 413. Default: `3145728` (3 MiB, kube-apiserver's request limit). */
  maxBodyBytes?: number;
}

/** Admission settings after validation. */
export interface ResolvedAdmission {
  boundTo: { kind: WebhookConfigurationKind; name: string } | undefined;
  requireWebhookBinding: boolean;
  respond: 'admission-review' | 'http';
  maxBodyBytes: number;
}

const KINDS: readonly string[] = ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'];
const FIELDS = ['boundTo', 'requireWebhookBinding', 'respond', 'maxBodyBytes'];
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

const fail = (field: string, problem: string): never => {
  throw new ApiserverTokenConfigError(field, problem);
};

function boundTo(value: unknown, field: string): ResolvedAdmission['boundTo'] {
  if (typeof value !== 'object' || value === null) return fail(field, 'must be { kind, name }');
  assertKnownKeys(value, ['kind', 'name'], field);
  const { kind, name } = value as Record<string, unknown>;
  if (typeof kind !== 'string' || !KINDS.includes(kind))
    fail(`${field}.kind`, `must be ${KINDS.join(' or ')}, got ${JSON.stringify(kind)}`);
  if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name))
    fail(`${field}.name`, `must be the webhook configuration's name, got ${JSON.stringify(name)}`);
  return { kind: kind as WebhookConfigurationKind, name: name as string };
}

/** Validate `admission` (and `APISERVER_TOKEN_ADMISSION*`); undefined when admission mode is off. */
export function resolveAdmissionOptions(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedAdmission | undefined {
  const enabled = value ?? envBoolean(env, 'ADMISSION');
  if (enabled === undefined || enabled === false) return undefined;
  if (enabled !== true && (typeof enabled !== 'object' || enabled === null || Array.isArray(enabled)))
    return fail(
      'admission',
      'must be true, false or { boundTo?, requireWebhookBinding?, respond?, maxBodyBytes? }',
    );
  const o = (enabled === true ? {} : enabled) as Record<string, unknown>;
  assertKnownKeys(o, FIELDS, 'admission');
  let bound: ResolvedAdmission['boundTo'];
  if (o.boundTo !== undefined) bound = boundTo(o.boundTo, 'admission.boundTo');
  else {
    const text = envString(env, 'ADMISSION_BOUND_TO');
    if (text !== undefined) {
      const slash = text.indexOf('/');
      bound = boundTo(
        { kind: text.slice(0, slash), name: slash === -1 ? undefined : text.slice(slash + 1) },
        `${ENV_PREFIX}ADMISSION_BOUND_TO`,
      );
    }
  }
  const require = o.requireWebhookBinding ?? envBoolean(env, 'ADMISSION_REQUIRE_WEBHOOK_BINDING') ?? false;
  if (typeof require !== 'boolean') fail('admission.requireWebhookBinding', 'must be true or false');
  const respond = o.respond ?? 'admission-review';
  if (respond !== 'admission-review' && respond !== 'http')
    fail('admission.respond', `must be 'admission-review' or 'http', got ${JSON.stringify(respond)}`);
  const max = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1024 || max > 64 * 1024 * 1024)
    fail(
      'admission.maxBodyBytes',
      `must be an integer from 1024 to ${64 * 1024 * 1024}, got ${JSON.stringify(max)}`,
    );
  return {
    boundTo: bound,
    requireWebhookBinding: require as boolean,
    respond: respond as ResolvedAdmission['respond'],
    maxBodyBytes: max as number,
  };
}
