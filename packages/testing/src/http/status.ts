import type { KubernetesStatus } from '../types.js';

/** A `Status` failure object, as kube-apiserver writes it. */
export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: KubernetesStatus['details'],
): KubernetesStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** 401 as the authentication filter writes it (no `details`). */
export function unauthorizedStatus(): KubernetesStatus {
  return statusObject(401, 'Unauthorized', 'Unauthorized');
}

/** 403 for a non-resource path (discovery, JWKS). */
export function forbiddenPathStatus(user: string, verb: string, path: string): KubernetesStatus {
  return statusObject(
    403,
    'Forbidden',
    `forbidden: User ${JSON.stringify(user)} cannot ${verb} path ${JSON.stringify(path)}`,
    {},
  );
}

/**
 * 403 of the RBAC authorizer for a resource request, as kube-apiserver words it:
 * `<resource>[.<group>] ["<name>"] is forbidden: User "<u>" cannot <verb> resource "<resource>"
 * [in API group "<g>"] (in the namespace "<ns>" | at the cluster scope)`.
 */
export function forbiddenResourceStatus(
  user: string,
  verb: string,
  group: string,
  resource: string,
  options: { name?: string; namespace?: string; subresource?: string } = {},
): KubernetesStatus {
  const qualified = group ? `${resource}.${group}` : resource;
  const target = options.name !== undefined ? `${qualified} ${JSON.stringify(options.name)}` : qualified;
  const full = options.subresource ? `${resource}/${options.subresource}` : resource;
  const scope =
    options.namespace !== undefined
      ? `in the namespace ${JSON.stringify(options.namespace)}`
      : 'at the cluster scope';
  return statusObject(
    403,
    'Forbidden',
    `${target} is forbidden: User ${JSON.stringify(user)} cannot ${verb} resource ${JSON.stringify(full)} in API group ${JSON.stringify(group)} ${scope}`,
    {
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(group ? { group } : {}),
      kind: resource,
    },
  );
}

/** 422 of a failed validation: `<Kind>.<group> "<name>" is invalid: <field>: <detail>`, with `causes`. */
export function invalidStatus(
  kind: string,
  group: string,
  name: string,
  errors: Array<{ field: string; detail: string }>,
): KubernetesStatus {
  const messages = errors.map((e) => `${e.field}: ${e.detail}`);
  const joined = messages.length === 1 ? messages[0]! : `[${messages.join(', ')}]`;
  return statusObject(422, 'Invalid', `${kind}.${group} ${JSON.stringify(name)} is invalid: ${joined}`, {
    ...(name ? { name } : {}),
    group,
    ...(kind ? { kind } : {}),
    causes: errors.map((e) => ({ reason: 'FieldValueInvalid', message: e.detail, field: e.field })),
  });
}

/** 406: what the server could have answered instead. */
export function notAcceptableStatus(available: readonly string[]): KubernetesStatus {
  return statusObject(
    406,
    'NotAcceptable',
    `406: Not Acceptable\n\nAvailable representations: ${available.join(', ')}`,
    {},
  );
}

/** 415: the request body's content type is not one the resource decodes. */
export function unsupportedMediaTypeStatus(accepted: readonly string[]): KubernetesStatus {
  return statusObject(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

export function notFoundStatus(): KubernetesStatus {
  return statusObject(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function methodNotAllowedStatus(): KubernetesStatus {
  return statusObject(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
    {},
  );
}

export function badRequestStatus(message: string): KubernetesStatus {
  return statusObject(400, 'BadRequest', message);
}

/** The answer of an injected HTTP fault. */
export function faultStatus(code: number): KubernetesStatus {
  if (code === 429) {
    return statusObject(429, 'TooManyRequests', 'Too many requests, please try again later.', {});
  }
  if (code === 503)
    return statusObject(
      503,
      'ServiceUnavailable',
      'the server is currently unable to handle the request',
      {},
    );
  if (code === 504)
    return statusObject(
      504,
      'Timeout',
      'the server was unable to return a response in the time allotted',
      {},
    );
  return statusObject(code, 'InternalError', `Internal error occurred: injected fault (HTTP ${code})`, {});
}
