import { ForbiddenIdentityError } from '../errors.js';
import { describeValue } from '../jwt/decode.js';
import type { PrecheckedToken } from '../jwt/precheck.js';
import type { ResolvedPolicy } from './options.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The part of the allow-lists that a token's unverified claims already decide: its service
 * account (`kubernetes.io.namespace`, `kubernetes.io.serviceaccount.name`) against
 * `policy.serviceAccounts` and `policy.namespaces`. Run after the pre-check, before the
 * signature: a service account outside those lists can only end in a refusal (the verified
 * identity carries the same namespace and name, or the token is malformed), so a flood of
 * forged tokens for other accounts costs a decode each, not a signature verification. It only
 * ever refuses; a token it lets through is verified and authorized in full. Undefined when the
 * policy has neither list.
 */
export function unverifiedServiceAccountCheck(
  policy: ResolvedPolicy | undefined,
): ((token: PrecheckedToken) => void) | undefined {
  const serviceAccounts = policy?.serviceAccounts;
  const namespaces = policy?.namespaces;
  if (serviceAccounts === undefined && namespaces === undefined) return undefined;
  return (token) => {
    // Legacy tokens carry their account in other claims; they are checked after verification.
    if (token.legacy) return;
    const k8s = token.claims['kubernetes.io'];
    if (!isObject(k8s)) return;
    const namespace = k8s.namespace;
    const account = k8s.serviceaccount;
    if (typeof namespace !== 'string' || !isObject(account) || typeof account.name !== 'string') return;
    const name = account.name;
    const refused =
      serviceAccounts !== undefined && !serviceAccounts(namespace, name)
        ? 'policy.serviceAccounts'
        : namespaces !== undefined && !namespaces(namespace)
          ? 'policy.namespaces'
          : undefined;
    if (refused === undefined) return;
    // Unverified: the message says so, and quotes the claims bounded (they may be anyone's).
    throw new ForbiddenIdentityError(
      `the token's service account ${describeValue(`${namespace}:${name}`)} (unverified) is not in ${refused}: refused before its signature was checked`,
    );
  };
}
