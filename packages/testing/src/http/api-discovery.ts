// The legacy (unaggregated) discovery documents for the resources the kit serves: what kubectl
// and client-go read before they send a request (`/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`).
import type { VersionTraits } from '../version.js';

type Resource = {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  group?: string;
  version?: string;
};

const RESOURCES: Record<string, Resource[]> = {
  v1: [
    {
      name: 'serviceaccounts',
      singularName: 'serviceaccount',
      namespaced: true,
      kind: 'ServiceAccount',
      verbs: ['get'],
    },
    {
      name: 'serviceaccounts/token',
      singularName: '',
      namespaced: true,
      group: 'authentication.k8s.io',
      version: 'v1',
      kind: 'TokenRequest',
      verbs: ['create'],
    },
  ],
  'authentication.k8s.io/v1': [
    {
      name: 'selfsubjectreviews',
      singularName: 'selfsubjectreview',
      namespaced: false,
      kind: 'SelfSubjectReview',
      verbs: ['create'],
    },
    {
      name: 'tokenreviews',
      singularName: 'tokenreview',
      namespaced: false,
      kind: 'TokenReview',
      verbs: ['create'],
    },
  ],
  'authorization.k8s.io/v1': [
    {
      name: 'subjectaccessreviews',
      singularName: 'subjectaccessreview',
      namespaced: false,
      kind: 'SubjectAccessReview',
      verbs: ['create'],
    },
  ],
};

const GROUPS = ['authentication.k8s.io', 'authorization.k8s.io'];

/** The discovery document at `pathname`, or undefined if it is not one. */
export function discoveryDocument(pathname: string, traits: VersionTraits): unknown {
  const path = pathname.replace(/\/$/, '');
  if (path === '/api') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
    };
  }
  if (path === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: GROUPS.map((name) => ({
        name,
        versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
        preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
      })),
    };
  }
  const group = /^\/apis\/([^/]+)$/.exec(path)?.[1];
  if (group && GROUPS.includes(group)) {
    return {
      kind: 'APIGroup',
      apiVersion: 'v1',
      name: group,
      versions: [{ groupVersion: `${group}/v1`, version: 'v1' }],
      preferredVersion: { groupVersion: `${group}/v1`, version: 'v1' },
    };
  }
  const groupVersion = path === '/api/v1' ? 'v1' : /^\/apis\/([^/]+\/[^/]+)$/.exec(path)?.[1];
  const resources = groupVersion ? RESOURCES[groupVersion] : undefined;
  if (groupVersion && resources) {
    // SelfSubjectReview is served from 1.28 too (beta there), so the lists do not differ by version.
    void traits;
    return {
      kind: 'APIResourceList',
      ...(groupVersion === 'v1' ? {} : { apiVersion: 'v1' }),
      groupVersion,
      resources,
    };
  }
  return undefined;
}

/** Whether the kit serves an API group (`''` is the core group). */
export function servedGroup(group: string): boolean {
  return group === '' || GROUPS.includes(group);
}

/** Whether a resource path belongs to a group/version the kit serves (unknown resources there are 404 Status, elsewhere 404 text). */
export function servedGroupVersion(group: string, version: string): boolean {
  return group === '' ? version === 'v1' : GROUPS.includes(group) && version === 'v1';
}

/** `/version`. */
export function versionDocument(traits: VersionTraits): Record<string, string> {
  const minor = traits.version.split('.')[1]!;
  return {
    major: '1',
    minor,
    emulationMajor: '1',
    emulationMinor: minor,
    minCompatibilityMajor: '1',
    minCompatibilityMinor: String(Number(minor) - 1),
    gitVersion: traits.gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: 'go1.26.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
