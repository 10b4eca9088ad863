import type { RuleAuthorizer } from '../authorizer.js';
import {
  type FieldTree,
  isObject,
  isString,
  isStringList,
  objectFields,
  type ResourceType,
} from '../http/decode.js';
import { decodeSubjectAccessReview } from '../http/protobuf.js';
import { invalidStatus } from '../http/status.js';
import type { AccessAttributes } from '../types.js';
import { reviewMetadata } from './managed-fields.js';
import type { ReviewAnswer } from './token-review.js';

const API_VERSION = 'authorization.k8s.io/v1';

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `authorizationv1.ResourceAttributes`' fields (the selectors are not walked). */
export const RESOURCE_ATTRIBUTES: FieldTree = Object.fromEntries(
  [
    'namespace',
    'verb',
    'group',
    'version',
    'resource',
    'subresource',
    'name',
    'fieldSelector',
    'labelSelector',
  ].map((f) => [f, true]),
);
/** `authorizationv1.SubjectAccessReviewStatus`' fields. */
export const ACCESS_REVIEW_STATUS: FieldTree = {
  allowed: true,
  denied: true,
  reason: true,
  evaluationError: true,
};

/** What the kit decodes a SubjectAccessReview body as (Go field types for the 400 wording). */
export const SUBJECT_ACCESS_REVIEW_TYPE: ResourceType = {
  kind: 'SubjectAccessReview',
  group: 'authorization.k8s.io',
  version: 'v1',
  internalPackage: 'authorization',
  protobuf: decodeSubjectAccessReview,
  known: objectFields({
    spec: {
      resourceAttributes: RESOURCE_ATTRIBUTES,
      nonResourceAttributes: { path: true, verb: true },
      user: true,
      groups: true,
      extra: true,
      uid: true,
    },
    status: ACCESS_REVIEW_STATUS,
  }),
  fields: [
    {
      path: ['spec'],
      goField: 'SubjectAccessReview',
      goType: 'v1.SubjectAccessReviewSpec',
      accepts: isObject,
    },
    { path: ['spec', 'user'], goField: 'SubjectAccessReviewSpec', goType: 'string', accepts: isString },
    { path: ['spec', 'uid'], goField: 'SubjectAccessReviewSpec', goType: 'string', accepts: isString },
    {
      path: ['spec', 'groups'],
      goField: 'SubjectAccessReviewSpec',
      goType: '[]string',
      accepts: isStringList,
    },
    {
      path: ['spec', 'resourceAttributes'],
      goField: 'SubjectAccessReviewSpec',
      goType: 'v1.ResourceAttributes',
      accepts: isObject,
    },
    {
      path: ['spec', 'nonResourceAttributes'],
      goField: 'SubjectAccessReviewSpec',
      goType: 'v1.NonResourceAttributes',
      accepts: isObject,
    },
  ],
};

/** `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`, after the caller was allowed and the body decoded. */
export async function reviewAccess(
  request: Record<string, unknown>,
  manager: string,
  authorizer: RuleAuthorizer,
  now: number,
  nullCreationTimestamp: boolean,
): Promise<ReviewAnswer> {
  const spec = (request.spec ?? {}) as Record<string, unknown>;
  const ra = spec.resourceAttributes as Record<string, unknown> | undefined | null;
  const nra = spec.nonResourceAttributes as Record<string, unknown> | undefined | null;
  // ValidateSubjectAccessReviewSpec, in its order and words (the kind is empty in the message).
  const errors: Array<{ field: string; detail: string }> = [];
  if (!ra && !nra) {
    errors.push({
      field: 'spec.resourceAttributes',
      detail:
        'Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified',
    });
  } else if (ra && nra) {
    const goValue = JSON.stringify({ Path: str(nra.path) ?? '', Verb: str(nra.verb) ?? '' });
    errors.push({
      field: 'spec.nonResourceAttributes',
      detail: `Invalid value: ${goValue}: cannot be specified in combination with resourceAttributes`,
    });
  }
  const user = str(spec.user) ?? '';
  const groups = Array.isArray(spec.groups)
    ? spec.groups.filter((g): g is string => typeof g === 'string')
    : [];
  if (!user && groups.length === 0) {
    errors.push({
      field: 'spec.user',
      detail: 'Invalid value: "": at least one of user or group must be specified',
    });
  }
  if (errors.length > 0) {
    return { status: 422, body: invalidStatus('', 'authorization.k8s.io', '', errors) };
  }

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
      metadata: reviewMetadata(API_VERSION, spec, manager, now, nullCreationTimestamp),
      spec,
      status,
    },
  };
}
