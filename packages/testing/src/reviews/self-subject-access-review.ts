import { objectFields, type ResourceType } from '../http/decode.js';
import { decodeSubjectAccessReview } from '../http/protobuf.js';
import { statusObject } from '../http/status.js';
import { reviewMetadata } from './managed-fields.js';
import { ACCESS_REVIEW_STATUS, RESOURCE_ATTRIBUTES } from './subject-access-review.js';
import type { ReviewAnswer } from './token-review.js';

const API_VERSION = 'authorization.k8s.io/v1';

/** What the kit's reviewers may do: create TokenReviews and SubjectAccessReviews (`system:auth-delegator`). */
const DELEGATED = new Set([
  'authentication.k8s.io/tokenreviews',
  'authorization.k8s.io/subjectaccessreviews',
]);

/**
 * `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: may the caller itself make this
 * request? Every authenticated user may ask (kube-apiserver's `system:basic-user`). The kit knows
 * one permission: `create` on TokenReviews and SubjectAccessReviews, held by the reviewers.
 */
export function reviewSelfAccess(
  request: unknown,
  manager: string,
  canReview: boolean,
  now: number,
  nullCreationTimestamp: boolean,
): ReviewAnswer {
  const spec = (request as { spec?: unknown } | null)?.spec;
  const attributes = (spec as { resourceAttributes?: Record<string, unknown> } | undefined)
    ?.resourceAttributes;
  if (
    request === null ||
    typeof request !== 'object' ||
    (request as { kind?: unknown }).kind !== 'SelfSubjectAccessReview' ||
    typeof attributes !== 'object' ||
    attributes === null
  ) {
    return {
      status: 422,
      body: statusObject(
        422,
        'Invalid',
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Required value',
        { group: 'authorization.k8s.io', kind: 'SelfSubjectAccessReview' },
      ),
    };
  }
  const resource = `${attributes.group ?? ''}/${attributes.resource ?? ''}`;
  const allowed = canReview && attributes.verb === 'create' && DELEGATED.has(resource);
  return {
    status: 201,
    body: {
      kind: 'SelfSubjectAccessReview',
      apiVersion: API_VERSION,
      metadata: reviewMetadata(
        API_VERSION,
        spec as Record<string, unknown>,
        manager,
        now,
        nullCreationTimestamp,
      ),
      spec,
      status: allowed
        ? {
            allowed: true,
            reason:
              'RBAC: allowed by ClusterRoleBinding "apiserver-token-reviewer" of ClusterRole "system:auth-delegator"',
          }
        : { allowed: false },
    },
  };
}

/** The body a SelfSubjectAccessReview create accepts: JSON, YAML-that-is-JSON or protobuf. */
export const SELF_SUBJECT_ACCESS_REVIEW_TYPE: ResourceType = {
  kind: 'SelfSubjectAccessReview',
  group: 'authorization.k8s.io',
  version: 'v1',
  internalPackage: 'authorization',
  // SelfSubjectAccessReviewSpec numbers its two attribute fields as SubjectAccessReviewSpec does.
  protobuf: decodeSubjectAccessReview,
  known: objectFields({
    spec: { resourceAttributes: RESOURCE_ATTRIBUTES, nonResourceAttributes: { path: true, verb: true } },
    status: ACCESS_REVIEW_STATUS,
  }),
  fields: [],
};
