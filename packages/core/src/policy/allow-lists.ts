import type { RequestLike } from '../contracts/verifier.js';
import { ForbiddenIdentityError } from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';
import type { ResolvedPolicy } from './options.js';

/**
 * The allow-lists as one check: every configured list must match (AND); within a list any
 * entry does. Synchronous and allocation-free on the allowed path.
 */
export function allowListCheck(policy: ResolvedPolicy): ((identity: ApiserverIdentity) => void) | undefined {
  const { serviceAccounts, usernames, groups, namespaces } = policy;
  if (!serviceAccounts && !usernames && !groups && !namespaces) return undefined;
  return (identity) => {
    const account = identity.serviceAccount;
    if (
      serviceAccounts !== undefined &&
      (account === undefined || !serviceAccounts(account.namespace, account.name))
    )
      throw new ForbiddenIdentityError(`${identity.username} is not in policy.serviceAccounts`);
    if (usernames !== undefined && !usernames(identity.username))
      throw new ForbiddenIdentityError(`${identity.username} is not in policy.usernames`);
    if (groups !== undefined && !identity.groups.some((group) => groups(group)))
      throw new ForbiddenIdentityError(`${identity.username} is in none of policy.groups`);
    if (namespaces !== undefined && (account === undefined || !namespaces(account.namespace)))
      throw new ForbiddenIdentityError(`${identity.username} is not a service account of policy.namespaces`);
  };
}

/** The custom predicate: only `true` allows. */
export function predicateCheck(
  allow: NonNullable<ResolvedPolicy['allow']>,
): (identity: ApiserverIdentity, request: RequestLike | undefined) => Promise<void> {
  return async (identity, request) => {
    const verdict = await allow(identity, request);
    if (verdict !== true) throw new ForbiddenIdentityError(`policy.allow refused ${identity.username}`);
  };
}
