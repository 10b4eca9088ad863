/** A user as Kubernetes authentication reports it (TokenReview `status.user`). */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export const ANONYMOUS: UserInfo = {
  username: 'system:anonymous',
  groups: ['system:unauthenticated'],
  extra: {},
};

/** Adds `system:authenticated`, as the apiserver's authenticator union does for every user. */
export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  return user.groups.includes('system:authenticated')
    ? user
    : { ...user, groups: [...user.groups, 'system:authenticated'] };
}

/** A static-token user (`--token-auth-file`). */
export interface StaticUser {
  name: string;
  uid?: string;
  groups: string[];
  token: string;
}

/** Static tokens and who may create TokenReviews / SubjectAccessReviews. */
export class UserDirectory {
  readonly #byToken = new Map<string, StaticUser>();
  readonly #reviewers = new Set<string>();
  readonly #reviewerGroups = new Set<string>(['system:masters']);

  add(user: StaticUser, canReview: boolean): void {
    for (const [token, existing] of this.#byToken) {
      if (existing.name === user.name) this.#byToken.delete(token);
    }
    this.#byToken.set(user.token, user);
    if (canReview) this.#reviewers.add(user.name);
    else this.#reviewers.delete(user.name);
  }

  byToken(token: string): StaticUser | undefined {
    return this.#byToken.get(token);
  }

  byName(name: string): StaticUser | undefined {
    for (const user of this.#byToken.values()) if (user.name === name) return user;
    return undefined;
  }

  grantReview(subject: { user?: string; group?: string }): void {
    if (subject.user) this.#reviewers.add(subject.user);
    if (subject.group) this.#reviewerGroups.add(subject.group);
  }

  revokeReview(subject: { user?: string; group?: string }): void {
    if (subject.user) this.#reviewers.delete(subject.user);
    if (subject.group) this.#reviewerGroups.delete(subject.group);
  }

  canReview(user: UserInfo): boolean {
    return this.#reviewers.has(user.username) || user.groups.some((g) => this.#reviewerGroups.has(g));
  }
}
