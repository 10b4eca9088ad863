import type { ApiserverIdentity, BoundObject, BoundObjectKind } from '../identity.js';

/** `status.user` of a TokenReview, as the apiserver sends it (every field optional on the wire). */
export interface TokenReviewUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The identity fields a TokenReview states; the rest (issuer, times) come from elsewhere. */
export type ReviewedIdentity = Pick<
  ApiserverIdentity,
  'username' | 'uid' | 'groups' | 'extra' | 'serviceAccount' | 'boundObject' | 'node' | 'attestations'
>;

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const AUTH = 'authentication.kubernetes.io/';

/** Extra keys naming a bound object, in the order Kubernetes reports them (a pod wins over its node). */
const BOUND_OBJECT_KEYS: ReadonlyArray<readonly [BoundObjectKind, string]> = [
  ['Pod', 'pod'],
  ['Secret', 'secret'],
  ['ValidatingWebhookConfiguration', 'validatingwebhookconfiguration'],
  ['MutatingWebhookConfiguration', 'mutatingwebhookconfiguration'],
  ['APIService', 'apiservice'],
  ['Node', 'node'],
];

/** Attestation extra keys (KEP-6060) and the identity field each fills. */
const ATTESTATION_PREFIX = 'attestation.authentication.kubernetes.io/';

/** `system:serviceaccount:<ns>:<name>` split, or undefined for any other username. */
export function parseServiceAccountUsername(
  username: string,
): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const rest = username.slice(SERVICE_ACCOUNT_PREFIX.length);
  const colon = rest.indexOf(':');
  // Namespaces and names are DNS labels/subdomains: neither may be empty nor contain ':'.
  if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(':', colon + 1) !== -1) return undefined;
  return { namespace: rest.slice(0, colon), name: rest.slice(colon + 1) };
}

function single(extra: Record<string, string[]>, key: string): string | undefined {
  const values = extra[key];
  return values !== undefined && values.length > 0 && values[0] !== '' ? values[0] : undefined;
}

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((item): item is string => typeof item === 'string');
}

/** A copy of `extra` keeping only string-list values (the apiserver's JSON is not trusted blindly). */
function cleanExtra(extra: unknown): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  if (typeof extra !== 'object' || extra === null) return result;
  const entries = extra instanceof Map ? [...extra.entries()] : Object.entries(extra);
  for (const [key, value] of entries) {
    const list = stringList(value);
    if (typeof key === 'string' && list !== undefined) result[key] = list;
  }
  return result;
}

/**
 * The identity a successful TokenReview states: username, uid, groups and `extra` verbatim; the
 * service account parsed from the username (a static-token user such as `admin` has none); the
 * bound object, node and KEP-6060 attestations read from the `authentication.kubernetes.io/*`
 * and `attestation.authentication.kubernetes.io/*` extra keys.
 */
export function identityFromReviewUser(user: TokenReviewUser): ReviewedIdentity {
  const username = typeof user.username === 'string' ? user.username : '';
  const extra = cleanExtra(user.extra);
  const identity: ReviewedIdentity = {
    username,
    groups: stringList(user.groups) ?? [],
    extra,
  };
  if (typeof user.uid === 'string' && user.uid !== '') identity.uid = user.uid;

  const serviceAccount = parseServiceAccountUsername(username);
  if (serviceAccount !== undefined) {
    // For a service account, TokenReview's user uid is the service account's uid.
    identity.serviceAccount =
      identity.uid === undefined ? serviceAccount : { ...serviceAccount, uid: identity.uid };
  }

  for (const [kind, key] of BOUND_OBJECT_KEYS) {
    const name = single(extra, `${AUTH}${key}-name`);
    if (name === undefined) continue;
    const bound: BoundObject = { kind, name };
    const uid = single(extra, `${AUTH}${key}-uid`);
    if (uid !== undefined) bound.uid = uid;
    if ((kind === 'Pod' || kind === 'Secret') && serviceAccount !== undefined)
      bound.namespace = serviceAccount.namespace;
    identity.boundObject = bound;
    break;
  }

  const nodeName = single(extra, `${AUTH}node-name`);
  if (nodeName !== undefined) {
    const nodeUid = single(extra, `${AUTH}node-uid`);
    identity.node = nodeUid === undefined ? { name: nodeName } : { name: nodeName, uid: nodeUid };
  }

  const groups = extra[`${ATTESTATION_PREFIX}admissionReviewAPIGroups`];
  if (groups !== undefined) identity.attestations = { admissionReviewAPIGroups: [...groups] };
  return identity;
}
