import type { BoundObjectKind } from '../types.js';

/** The `kubernetes.io` private claim of a bound service-account token. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
  node?: { name: string; uid: string };
  validatingwebhookconfiguration?: { name: string; uid: string };
  mutatingwebhookconfiguration?: { name: string; uid: string };
  attestations?: { admissionReviewAPIGroups?: string[] };
  warnafter?: number;
}

/** Where each bound kind lives inside `kubernetes.io`. */
export const BOUND_CLAIM: Record<
  BoundObjectKind,
  'pod' | 'secret' | 'node' | 'validatingwebhookconfiguration' | 'mutatingwebhookconfiguration'
> = {
  Pod: 'pod',
  Secret: 'secret',
  Node: 'node',
  ValidatingWebhookConfiguration: 'validatingwebhookconfiguration',
  MutatingWebhookConfiguration: 'mutatingwebhookconfiguration',
};

/** `system:serviceaccount:<namespace>:<name>`. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** The issuer of legacy Secret-based service-account tokens. */
export const LEGACY_ISSUER = 'kubernetes/serviceaccount';

/** Claims of a legacy Secret-based token, as the token controller wrote them (no aud, no exp). */
export function legacyClaims(input: {
  namespace: string;
  serviceAccount: string;
  serviceAccountUid: string;
  secretName: string;
}): Record<string, unknown> {
  return {
    iss: LEGACY_ISSUER,
    'kubernetes.io/serviceaccount/namespace': input.namespace,
    'kubernetes.io/serviceaccount/secret.name': input.secretName,
    'kubernetes.io/serviceaccount/service-account.name': input.serviceAccount,
    'kubernetes.io/serviceaccount/service-account.uid': input.serviceAccountUid,
    sub: serviceAccountUsername(input.namespace, input.serviceAccount),
  };
}
