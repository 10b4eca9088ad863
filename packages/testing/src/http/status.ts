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

/** 403 for a cluster-scoped resource (tokenreviews, subjectaccessreviews). */
export function forbiddenResourceStatus(
  user: string,
  verb: string,
  group: string,
  resource: string,
): KubernetesStatus {
  return statusObject(
    403,
    'Forbidden',
    `${resource}.${group} is forbidden: User ${JSON.stringify(user)} cannot ${verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(group)} at the cluster scope`,
    { group, kind: resource },
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
