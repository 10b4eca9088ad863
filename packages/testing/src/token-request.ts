import { isInteger, isObject, isStringList, objectFields, type ResourceType } from './http/decode.js';
import { decodeTokenRequest } from './http/protobuf.js';
import { invalidStatus, statusObject } from './http/status.js';
import type { Minter } from './jwt/minter.js';
import type { ObjectRegistry } from './registry.js';
import { kubeTime, managedFieldsEntry } from './reviews/managed-fields.js';
import type { ReviewAnswer } from './reviews/token-review.js';
import type { BoundObjectKind } from './types.js';

const API_VERSION = 'authentication.k8s.io/v1';
const GROUP = 'authentication.k8s.io';
const BINDABLE: Record<string, { kind: BoundObjectKind; resource: string }> = {
  Pod: { kind: 'Pod', resource: 'pods' },
  Secret: { kind: 'Secret', resource: 'secrets' },
  Node: { kind: 'Node', resource: 'nodes' },
};

/** What the kit decodes a TokenRequest body as: JSON, or protobuf as `kubectl create token` sends it. */
export const TOKEN_REQUEST_TYPE: ResourceType = {
  kind: 'TokenRequest',
  group: GROUP,
  version: 'v1',
  internalPackage: 'authentication',
  protobuf: decodeTokenRequest,
  protobufAnswers: true,
  known: objectFields({
    spec: {
      audiences: true,
      expirationSeconds: true,
      boundObjectRef: { kind: true, apiVersion: true, name: true, uid: true },
    },
    status: { token: true, expirationTimestamp: true },
  }),
  fields: [
    { path: ['spec'], goField: 'TokenRequest', goType: 'v1.TokenRequestSpec', accepts: isObject },
    { path: ['spec', 'audiences'], goField: 'TokenRequestSpec', goType: '[]string', accepts: isStringList },
    { path: ['spec', 'expirationSeconds'], goField: 'TokenRequestSpec', goType: 'int64', accepts: isInteger },
    {
      path: ['spec', 'boundObjectRef'],
      goField: 'TokenRequestSpec',
      goType: 'v1.BoundObjectReference',
      accepts: isObject,
    },
  ],
};

/** A TokenRequest answer, kept structured so that it can be written as JSON or protobuf. */
export interface TokenRequestAnswer {
  kind: 'TokenRequest';
  apiVersion: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    creationTimestamp: string;
    managedFields: Array<Record<string, unknown>>;
  };
  spec: { audiences: string[]; expirationSeconds: number; boundObjectRef: Record<string, string> | null };
  status: { token: string; expirationTimestamp: string };
}

function gvkOf(apiVersion: string | undefined, kind: string | undefined): string {
  const [group, version] = (apiVersion ?? '').includes('/')
    ? (apiVersion ?? '').split('/')
    : ['', apiVersion ?? ''];
  return `${group}/${version}, Kind=${kind ?? ''}`;
}

/**
 * `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token` (what `kubectl create token` and
 * the kubelet call), with kube-apiserver's validation order and wording: the service account and
 * any bound object must exist in the registry, a Pod must run as that service account.
 */
export function requestToken(
  namespace: string,
  name: string,
  request: Record<string, unknown>,
  manager: string,
  ctx: { minter: Minter; registry: ObjectRegistry; now: () => number; apiAudiences: () => string[] },
): ReviewAnswer & { token?: TokenRequestAnswer } {
  const metadata = (request.metadata ?? {}) as { name?: unknown; uid?: unknown };
  const spec = (request.spec ?? {}) as {
    audiences?: string[] | null;
    expirationSeconds?: number | null;
    boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string } | null;
  };
  if (typeof metadata.name === 'string' && metadata.name !== '' && metadata.name !== name) {
    return {
      status: 422,
      body: invalidStatus('TokenRequest', GROUP, name, [
        {
          field: 'metadata.name',
          detail: `Invalid value: ${JSON.stringify(metadata.name)}: must match the service account name if specified`,
        },
      ]),
    };
  }
  const sa = ctx.registry.get('ServiceAccount', namespace, name);
  if (!sa) {
    return {
      status: 404,
      body: statusObject(404, 'NotFound', `serviceaccounts ${JSON.stringify(name)} not found`, {
        name,
        kind: 'serviceaccounts',
      }),
    };
  }
  if (typeof metadata.uid === 'string' && metadata.uid !== '' && metadata.uid !== sa.uid) {
    return {
      status: 409,
      body: statusObject(
        409,
        'Conflict',
        `Operation cannot be fulfilled on TokenRequest.${GROUP} ${JSON.stringify(name)}: the UID in the token request (${metadata.uid}) does not match the UID of the service account (${sa.uid})`,
        { name, group: GROUP, kind: 'TokenRequest' },
      ),
    };
  }
  const expirationSeconds = spec.expirationSeconds ?? 3600;
  if (expirationSeconds < 600 || expirationSeconds > 2 ** 32) {
    const detail =
      expirationSeconds < 600
        ? `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`
        : `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`;
    return {
      status: 422,
      body: invalidStatus('TokenRequest', GROUP, '', [{ field: 'spec.expirationSeconds', detail }]),
    };
  }
  const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : undefined;
  const ref = spec.boundObjectRef ?? undefined;
  let boundObject: { kind: BoundObjectKind; name: string; uid: string } | undefined;
  if (ref) {
    // kube-apiserver matches the group and kind only (`gvk.Group == "" && gvk.Kind == "Pod"`): any
    // version of the core group binds, `apps/v1` does not.
    const bindable = BINDABLE[ref.kind ?? ''];
    if (!bindable || (ref.apiVersion ?? '').includes('/')) {
      return {
        status: 400,
        body: statusObject(
          400,
          'BadRequest',
          `cannot bind token to object of type ${gvkOf(ref.apiVersion, ref.kind)}`,
        ),
      };
    }
    const object = ctx.registry.get(bindable.kind, namespace, ref.name ?? '');
    if (!object) {
      return {
        status: 404,
        body: statusObject(
          404,
          'NotFound',
          `${bindable.resource} ${JSON.stringify(ref.name ?? '')} not found`,
          {
            name: ref.name ?? '',
            kind: bindable.resource,
          },
        ),
      };
    }
    if (ref.uid && ref.uid !== object.uid) {
      return {
        status: 409,
        body: statusObject(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${bindable.kind} ${JSON.stringify(ref.name)}: the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
          { name: ref.name ?? '', kind: bindable.kind },
        ),
      };
    }
    if (bindable.kind === 'Pod' && object.serviceAccountName && object.serviceAccountName !== name) {
      return {
        status: 400,
        body: statusObject(
          400,
          'BadRequest',
          `cannot bind token for serviceaccount ${JSON.stringify(name)} to pod running with different serviceaccount name.`,
        ),
      };
    }
    boundObject = { kind: bindable.kind, name: object.name, uid: object.uid };
  }
  const nowMs = ctx.now();
  const issuedAt = Math.floor(nowMs / 1000);
  const token = ctx.minter.mint({
    namespace,
    serviceAccount: name,
    serviceAccountUid: sa.uid,
    ...(audiences ? { audiences } : {}),
    issuedAt,
    expiresIn: expirationSeconds,
    ...(boundObject ? { boundObject } : {}),
  });
  // The managedFields entry records the fields as sent; the answer echoes the defaulted spec.
  const sentSpec: Record<string, unknown> = {
    ...(audiences ? { audiences } : {}),
    expirationSeconds,
    ...(ref ? { boundObjectRef: ref } : {}),
  };
  const answer: TokenRequestAnswer = {
    kind: 'TokenRequest',
    apiVersion: API_VERSION,
    metadata: {
      name,
      namespace,
      uid: sa.uid,
      creationTimestamp: kubeTime(nowMs),
      managedFields: [managedFieldsEntry(API_VERSION, sentSpec, manager, nowMs, 'token')],
    },
    spec: {
      audiences: audiences ?? ctx.apiAudiences(),
      expirationSeconds,
      boundObjectRef: ref ? (ref as Record<string, string>) : null,
    },
    // Still creation + the requested seconds when the apiserver extended a kubelet token's `exp`.
    status: { token, expirationTimestamp: kubeTime((issuedAt + expirationSeconds) * 1000) },
  };
  return { status: 201, body: answer as unknown as Record<string, unknown>, token: answer };
}
