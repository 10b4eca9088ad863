import type { RuleAuthorizer } from '../authorizer.js';
import { statusObject } from '../http/status.js';
import type { AccessAttributes } from '../types.js';
import { reviewMetadata } from './managed-fields.js';
import type { ReviewAnswer } from './token-review.js';

const API_VERSION = 'authorization.k8s.io/v1';

function invalid(message: string): ReviewAnswer {
  return {
    status: 422,
    body: statusObject(422, 'Invalid', `SubjectAccessReview.authorization.k8s.io "" is invalid: ${message}`, {
      group: 'authorization.k8s.io',
      kind: 'SubjectAccessReview',
    }),
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`, after the caller was allowed. */
export async function reviewAccess(
  request: unknown,
  manager: string,
  authorizer: RuleAuthorizer,
  now: number,
): Promise<ReviewAnswer> {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    return {
      status: 400,
      body: statusObject(
        400,
        'BadRequest',
        'the object provided is unrecognized (must be of type SubjectAccessReview)',
      ),
    };
  }
  const { kind, apiVersion } = request as { kind?: unknown; apiVersion?: unknown };
  if (
    (kind !== undefined && kind !== 'SubjectAccessReview') ||
    (apiVersion !== undefined && apiVersion !== API_VERSION)
  ) {
    return {
      status: 400,
      body: statusObject(
        400,
        'BadRequest',
        `the object provided is not a ${API_VERSION} SubjectAccessReview`,
      ),
    };
  }
  const spec = ((request as { spec?: unknown }).spec ?? {}) as Record<string, unknown>;
  const ra = spec.resourceAttributes as Record<string, unknown> | undefined | null;
  const nra = spec.nonResourceAttributes as Record<string, unknown> | undefined | null;
  const errors: string[] = [];
  if (!ra === !nra) {
    errors.push(
      ra
        ? 'spec.nonResourceAttributes: Invalid value: "": cannot be specified in combination with resourceAttributes'
        : 'spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
  }
  const user = str(spec.user) ?? '';
  const groups = Array.isArray(spec.groups)
    ? spec.groups.filter((g): g is string => typeof g === 'string')
    : [];
  if (!user && groups.length === 0)
    errors.push('spec.user: Invalid value: "": at least one of user or group must be specified');
  if (errors.length > 0) return invalid(errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`);

  const uid = str(spec.uid);
  const attributes: AccessAttributes = {
    user,
    groups,
    ...(uid ? { uid } : {}),
    ...(spec.extra && typeof spec.extra === 'object'
      ? { extra: spec.extra as Record<string, string[]> }
      : {}),
  };
  if (ra) {
    const opt = (name: string) => (str(ra[name]) ? { [name]: str(ra[name]) } : {});
    attributes.resource = {
      verb: str(ra.verb) ?? '',
      group: str(ra.group) ?? '',
      resource: str(ra.resource) ?? '',
      ...opt('version'),
      ...opt('subresource'),
      ...opt('namespace'),
      ...opt('name'),
    };
  } else if (nra) {
    attributes.nonResource = { verb: str(nra.verb) ?? '', path: str(nra.path) ?? '' };
  }

  const decision = await authorizer.decide(attributes);
  const status: Record<string, unknown> = { allowed: decision.allowed === true };
  if (decision.denied) status.denied = true;
  if (decision.reason) status.reason = decision.reason;
  if (decision.evaluationError) status.evaluationError = decision.evaluationError;
  return {
    status: 201,
    body: {
      kind: 'SubjectAccessReview',
      apiVersion: API_VERSION,
      metadata: reviewMetadata(API_VERSION, spec, manager, now),
      spec,
      status,
    },
  };
}
