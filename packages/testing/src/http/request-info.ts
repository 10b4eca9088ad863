// What kube-apiserver's RequestInfo resolver makes of a path: a resource request
// (`/api/v1/...`, `/apis/<group>/<version>/...`) with verb, namespace, resource, name and
// subresource, or a non-resource request (any other path).

export interface ResourceInfo {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  /** RBAC verb: create, get, list, update, patch, delete, deletecollection. */
  verb: string;
}

const VERBS: Record<string, string> = {
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
  GET: 'get',
  HEAD: 'get',
};

/** The resource a path names, or undefined for a non-resource path (or a group/version root). */
export function resourceInfo(method: string, pathname: string): ResourceInfo | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    [group, version, rest] = ['', parts[1]!, parts.slice(2)];
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
  } else return undefined;
  let namespace: string | undefined;
  // `namespaces/<ns>/<resource>...` is namespaced; `namespaces/<ns>` alone is the namespace object.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = '', name, subresource] = rest;
  let verb = VERBS[method] ?? method.toLowerCase();
  if (name === undefined && verb === 'get') verb = 'list';
  if (name === undefined && verb === 'delete') verb = 'deletecollection';
  return {
    group,
    version,
    resource,
    verb,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource !== undefined ? { subresource } : {}),
  };
}

/** RBAC's verb for a non-resource request: the lower-cased method. */
export function nonResourceVerb(method: string): string {
  return method.toLowerCase();
}
