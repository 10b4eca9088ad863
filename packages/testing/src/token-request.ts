import { statusObject } from './http/status.js';
import type { Minter } from './jwt/minter.js';
import type { ObjectRegistry } from './registry.js';
import type { ReviewAnswer } from './reviews/token-review.js';
import type { BoundObjectKind } from './types.js';

const API_VERSION = 'authentication.k8s.io/v1';
const BINDABLE: Record<string, { kind: BoundObjectKind; resource: string }> = {
  Pod: { kind: 'Pod', resource: 'pods' },
  Secret: { kind: 'Secret', resource: 'secrets' },
  Node: { kind: 'Node', resource: 'nodes' },
};

function invalid(name: string, message: string): ReviewAnswer {
  return {
    status: 422,
    body: statusObject(
      422,
      'Invalid',
      `TokenRequest.authentication.k8s.io ${JSON.stringify(name)} is invalid: ${message}`,
      {
        name,
        group: 'authentication.k8s.io',
        kind: 'TokenRequest',
      },
    ),
  };
}

/**
 * `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token` (what `kubectl create token` and the
 * kubelet call): the service account and any bound object must exist in the registry.
 */
export function requestToken(
  namespace: string,
  name: string,
  request: unknown,
  ctx: { minter: Minter; registry: ObjectRegistry; now: () => number; apiAudiences: () => string[] },
): ReviewAnswer {
  const body = (request ?? {}) as { kind?: unknown; apiVersion?: unknown; spec?: Record<string, unknown> };
  if (
    (body.kind !== undefined && body.kind !== 'TokenRequest') ||
    (body.apiVersion !== undefined && body.apiVersion !== API_VERSION)
  ) {
    return {
      status: 400,
      body: statusObject(400, 'BadRequest', `the object provided is not a ${API_VERSION} TokenRequest`),
    };
  }
  const spec = body.spec ?? {};
  const audiences = Array.isArray(spec.audiences)
    ? spec.audiences.filter((a): a is string => typeof a === 'string')
    : [];
  const expirationSeconds = spec.expirationSeconds === undefined ? 3600 : Number(spec.expirationSeconds);
  if (!Number.isInteger(expirationSeconds))
    return invalid('', 'spec.expirationSeconds: Invalid value: must be an integer');
  if (expirationSeconds < 600) {
    return invalid(
      '',
      `spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`,
    );
  }
  if (expirationSeconds > 2 ** 32) {
    return invalid(
      '',
      `spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`,
    );
  }
  if (!ctx.registry.get('ServiceAccount', namespace, name)) {
    return {
      status: 404,
      body: statusObject(404, 'NotFound', `serviceaccounts ${JSON.stringify(name)} not found`, {
        name,
        kind: 'serviceaccounts',
      }),
    };
  }
  const ref = spec.boundObjectRef as
    | { kind?: string; name?: string; uid?: string; apiVersion?: string }
    | undefined;
  let boundObject: { kind: BoundObjectKind; name: string; uid: string } | undefined;
  if (ref) {
    const bindable = BINDABLE[ref.kind ?? ''];
    if (!bindable || !ref.name) {
      return {
        status: 400,
        body: statusObject(400, 'BadRequest', `cannot bind token to object of type ${ref.kind ?? ''}`),
      };
    }
    const object = ctx.registry.get(bindable.kind, namespace, ref.name);
    if (!object) {
      return {
        status: 404,
        body: statusObject(404, 'NotFound', `${bindable.resource} ${JSON.stringify(ref.name)} not found`, {
          name: ref.name,
          kind: bindable.resource,
        }),
      };
    }
    if (ref.uid && ref.uid !== object.uid) {
      return {
        status: 409,
        body: statusObject(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${bindable.kind} ${JSON.stringify(ref.name)}: the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
          { name: ref.name, kind: bindable.kind },
        ),
      };
    }
    boundObject = { kind: bindable.kind, name: ref.name, uid: object.uid };
  }
  const issuedAt = Math.floor(ctx.now() / 1000);
  const token = ctx.minter.mint({
    namespace,
    serviceAccount: name,
    ...(audiences.length > 0 ? { audiences } : {}),
    issuedAt,
    expiresIn: expirationSeconds,
    ...(boundObject ? { boundObject } : {}),
  });
  // The apiserver defaults spec.audiences to its own audiences and echoes the defaulted spec.
  const echoed: Record<string, unknown> = {
    audiences: audiences.length > 0 ? audiences : ctx.apiAudiences(),
    expirationSeconds,
    boundObjectRef: ref ?? null,
  };
  return {
    status: 201,
    body: {
      kind: 'TokenRequest',
      apiVersion: API_VERSION,
      metadata: { name, namespace, creationTimestamp: null },
      spec: echoed,
      status: {
        token,
        expirationTimestamp: new Date((issuedAt + expirationSeconds) * 1000)
          .toISOString()
          .replace('.000Z', 'Z'),
      },
    },
  };
}
