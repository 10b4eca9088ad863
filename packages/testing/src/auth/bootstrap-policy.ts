// The part of kube-apiserver's bootstrap RBAC policy that decides who may read non-resource paths
// (discovery documents, health, version), with the binding names its SubjectAccessReview reasons quote.
import type { DiscoveryAccess } from '../types.js';

export interface BootstrapBinding {
  /** ClusterRoleBinding and ClusterRole name (the same in the bootstrap policy). */
  name: string;
  groups: string[];
  paths: string[];
}

const DISCOVERY_PATHS = [
  '/.well-known/openid-configuration',
  '/.well-known/openid-configuration/',
  '/openid/v1/jwks',
  '/openid/v1/jwks/',
];

/** Bindings in the order RBAC happens to visit them in the recordings. */
export function bootstrapBindings(discovery: DiscoveryAccess): BootstrapBinding[] {
  return [
    {
      name: 'system:discovery',
      groups: ['system:authenticated'],
      paths: [
        '/api',
        '/api/*',
        '/apis',
        '/apis/*',
        '/healthz',
        '/livez',
        '/openapi',
        '/openapi/*',
        '/readyz',
        '/version',
        '/version/',
      ],
    },
    {
      name: 'system:public-info-viewer',
      groups: ['system:authenticated', 'system:unauthenticated'],
      paths: ['/healthz', '/livez', '/readyz', '/version', '/version/'],
    },
    {
      // Stock clusters bind it to service accounts only; 'anonymous' is the common public setup.
      name: 'system:service-account-issuer-discovery',
      groups:
        discovery === 'anonymous'
          ? ['system:serviceaccounts', 'system:authenticated', 'system:unauthenticated']
          : ['system:serviceaccounts'],
      paths: DISCOVERY_PATHS,
    },
  ];
}

function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

/** The binding (and the group through which) that lets these groups `get` a path, if any. */
export function bootstrapAllows(
  bindings: readonly BootstrapBinding[],
  groups: readonly string[],
  verb: string,
  path: string,
): { binding: BootstrapBinding; group: string } | undefined {
  if (verb !== 'get') return undefined;
  for (const binding of bindings) {
    if (!binding.paths.some((p) => pathMatches(p, path))) continue;
    const group = binding.groups.find((g) => groups.includes(g));
    if (group) return { binding, group };
  }
  return undefined;
}

/** system:masters may do anything (the privileged-group authorizer, before RBAC). */
export function isSuperuser(groups: readonly string[]): boolean {
  return groups.includes('system:masters');
}
