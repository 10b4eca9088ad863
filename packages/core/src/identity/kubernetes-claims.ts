import { MalformedTokenError } from '../errors.js';
import type { ApiserverIdentity, Attestations, BoundObject } from '../identity.js';

/** An identity before the pipeline adds `verifiedBy` and `tokenFingerprint`. */
export type VerifiedIdentity = Omit<ApiserverIdentity, 'tokenFingerprint' | 'verifiedBy'>;

// The `extra` keys TokenReview reports, spelled out: a key built per token is a new string to hash.
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
const NODE_NAME = 'authentication.kubernetes.io/node-name';
const NODE_UID = 'authentication.kubernetes.io/node-uid';
const CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';
const WEBHOOK_CONFIGURATION_KEYS = {
  validatingwebhookconfiguration: [
    'authentication.kubernetes.io/validatingwebhookconfiguration-name',
    'authentication.kubernetes.io/validatingwebhookconfiguration-uid',
  ],
  mutatingwebhookconfiguration: [
    'authentication.kubernetes.io/mutatingwebhookconfiguration-name',
    'authentication.kubernetes.io/mutatingwebhookconfiguration-uid',
  ],
} as const;
const ADMISSION_REVIEW_API_GROUPS = 'attestation.authentication.kubernetes.io/admissionReviewAPIGroups';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(value: unknown, claim: string): string {
  if (typeof value !== 'string' || value === '')
    throw new MalformedTokenError(`\`${claim}\` is missing or not a string`);
  return value;
}

function optionalString(value: unknown, claim: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new MalformedTokenError(`\`${claim}\` is not a string`);
  return value;
}

/** `{name, uid}` reference claims such as `kubernetes.io.pod`. */
function reference(value: unknown, claim: string): { name: string; uid?: string } | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new MalformedTokenError(`\`${claim}\` is not an object`);
  const name = requireString(value.name, `${claim}.name`);
  const uid = optionalString(value.uid, `${claim}.uid`);
  return uid === undefined ? { name } : { name, uid };
}

function toDate(value: unknown, claim: string): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new MalformedTokenError(`\`${claim}\` is not a number`);
  const date = new Date(value * 1000);
  // Past year 275760 a Date is invalid: its NaN time would defeat every comparison (cache TTL).
  if (Number.isNaN(date.getTime())) throw new MalformedTokenError(`\`${claim}\` is out of range`);
  return date;
}

/** The bound object, its keys in the order a spread of `{ kind, ...ref, namespace }` gave them. */
function bound(
  kind: BoundObject['kind'],
  ref: { name: string; uid?: string },
  namespace: string | undefined,
): BoundObject {
  const object: BoundObject = { kind, name: ref.name };
  if (ref.uid !== undefined) object.uid = ref.uid;
  if (namespace !== undefined) object.namespace = namespace;
  return object;
}

/** `extra` of a token bound to a webhook configuration, with the keys TokenReview reports. */
function webhookExtra(
  extra: Record<string, string[]>,
  kind: keyof typeof WEBHOOK_CONFIGURATION_KEYS,
  ref: { name: string; uid?: string },
): void {
  const [nameKey, uidKey] = WEBHOOK_CONFIGURATION_KEYS[kind];
  extra[nameKey] = [ref.name];
  if (ref.uid !== undefined) extra[uidKey] = [ref.uid];
}

function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}

/**
 * The identity a service-account token carries, in the layout kube-apiserver issues
 * (`kubernetes.io: {namespace, serviceaccount, pod|secret|node, warnafter}` plus the KEP-6060
 * webhook-configuration bindings and attestations), with `extra` as TokenReview reports it.
 */
export function identityFromClaims(
  claims: Record<string, unknown>,
  issuer: string,
  audiences: string[],
): VerifiedIdentity {
  const k8s = claims['kubernetes.io'];
  if (!isObject(k8s))
    throw new MalformedTokenError('`kubernetes.io` claims are missing: not a service-account token');
  const namespace = requireString(k8s.namespace, 'kubernetes.io.namespace');
  const account = reference(k8s.serviceaccount, 'kubernetes.io.serviceaccount');
  if (account === undefined) throw new MalformedTokenError('`kubernetes.io.serviceaccount` is missing');
  const username = `system:serviceaccount:${namespace}:${account.name}`;
  if (claims.sub !== undefined && claims.sub !== username) {
    throw new MalformedTokenError('`sub` does not match the service account claims');
  }
  const extra: Record<string, string[]> = {};
  let boundObject: BoundObject | undefined;

  const pod = reference(k8s.pod, 'kubernetes.io.pod');
  const secret = reference(k8s.secret, 'kubernetes.io.secret');
  const node = reference(k8s.node, 'kubernetes.io.node');
  const validating = reference(
    k8s.validatingwebhookconfiguration,
    'kubernetes.io.validatingwebhookconfiguration',
  );
  const mutating = reference(k8s.mutatingwebhookconfiguration, 'kubernetes.io.mutatingwebhookconfiguration');
  // Object literals, not spreads: a spread of these small objects costs more than building them
  // (this runs once per cache miss).
  if (pod !== undefined) {
    boundObject = bound('Pod', pod, namespace);
    extra[POD_NAME] = [pod.name];
    if (pod.uid !== undefined) extra[POD_UID] = [pod.uid];
  } else if (secret !== undefined) {
    boundObject = bound('Secret', secret, namespace);
  } else if (validating !== undefined) {
    boundObject = bound('ValidatingWebhookConfiguration', validating, undefined);
  } else if (mutating !== undefined) {
    boundObject = bound('MutatingWebhookConfiguration', mutating, undefined);
  } else if (node !== undefined) {
    boundObject = bound('Node', node, undefined);
  }
  if (node !== undefined) {
    extra[NODE_NAME] = [node.name];
    if (node.uid !== undefined) extra[NODE_UID] = [node.uid];
  }
  if (validating !== undefined) webhookExtra(extra, 'validatingwebhookconfiguration', validating);
  if (mutating !== undefined) webhookExtra(extra, 'mutatingwebhookconfiguration', mutating);
  const jti = optionalString(claims.jti, 'jti');
  if (jti !== undefined && jti !== '') extra[CREDENTIAL_ID] = [`JTI=${jti}`];

  let attestations: Attestations | undefined;
  if (k8s.attestations !== undefined) {
    if (!isObject(k8s.attestations))
      throw new MalformedTokenError('`kubernetes.io.attestations` is not an object');
    const groups = k8s.attestations.admissionReviewAPIGroups;
    if (groups !== undefined) {
      if (!Array.isArray(groups) || !groups.every((group) => typeof group === 'string')) {
        throw new MalformedTokenError(
          '`kubernetes.io.attestations.admissionReviewAPIGroups` is not a list of strings',
        );
      }
      attestations = { admissionReviewAPIGroups: [...groups] };
      extra[ADMISSION_REVIEW_API_GROUPS] = [...groups];
    }
  }

  const identity: VerifiedIdentity = {
    username,
    groups: serviceAccountGroups(namespace),
    extra,
    serviceAccount:
      account.uid === undefined
        ? { namespace, name: account.name }
        : { namespace, name: account.name, uid: account.uid },
    issuer,
    audiences,
  };
  if (account.uid !== undefined) identity.uid = account.uid;
  if (boundObject !== undefined) identity.boundObject = boundObject;
  if (node !== undefined) identity.node = node;
  if (attestations !== undefined) identity.attestations = attestations;
  const issuedAt = toDate(claims.iat, 'iat');
  if (issuedAt !== undefined) identity.issuedAt = issuedAt;
  const expiresAt = toDate(claims.exp, 'exp');
  if (expiresAt !== undefined) identity.expiresAt = expiresAt;
  const staleAfter = toDate(k8s.warnafter, 'kubernetes.io.warnafter');
  if (staleAfter !== undefined) identity.staleAfter = staleAfter;
  return identity;
}

const LEGACY = 'kubernetes.io/serviceaccount/';

/**
 * The identity of a legacy secret-based token (`iss: kubernetes/serviceaccount`, flat claims),
 * with kube-apiserver's structural checks (`legacy.go`): `sub` and the namespace, secret name,
 * service-account name and uid all present, and `sub` naming that same account.
 */
export function identityFromLegacyClaims(claims: Record<string, unknown>, issuer: string): VerifiedIdentity {
  if (typeof claims.sub !== 'string' || claims.sub === '')
    throw new MalformedTokenError('`sub` is missing from a legacy token');
  const namespace = requireString(claims[`${LEGACY}namespace`], `${LEGACY}namespace`);
  const secretName = requireString(claims[`${LEGACY}secret.name`], `${LEGACY}secret.name`);
  const name = requireString(claims[`${LEGACY}service-account.name`], `${LEGACY}service-account.name`);
  const uid = requireString(claims[`${LEGACY}service-account.uid`], `${LEGACY}service-account.uid`);
  const username = `system:serviceaccount:${namespace}:${name}`;
  if (claims.sub !== username)
    throw new MalformedTokenError('`sub` does not match the service account claims');
  return {
    username,
    uid,
    groups: serviceAccountGroups(namespace),
    extra: {},
    serviceAccount: { namespace, name, uid },
    boundObject: { kind: 'Secret', name: secretName, namespace },
    issuer,
    audiences: [],
  };
}
