import { type BootstrapBinding, bootstrapAllows, isSuperuser } from './auth/bootstrap-policy.js';
import type { AccessAttributes, AccessDecision, AccessRule, Authorizer } from './types.js';

function list(value: string | string[] | undefined): string[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function matches(pattern: string | string[] | undefined, value: string | undefined): boolean {
  const values = list(pattern);
  return values === undefined || values.includes('*') || (value !== undefined && values.includes(value));
}

function pathMatches(pattern: string, path: string): boolean {
  return (
    pattern === '*' || pattern === path || (pattern.endsWith('*') && path.startsWith(pattern.slice(0, -1)))
  );
}

/** Validates a rule at the call site, so a typo fails the test that wrote it. */
export function validateRule(rule: AccessRule, method: 'allow' | 'deny'): AccessRule {
  if (rule === null || typeof rule !== 'object') throw new TypeError(`${method}: rule must be an object`);
  if (!rule.user && !rule.group) {
    throw new TypeError(
      `${method}: rule needs a subject: set user (a username) or group (a group name), '*' for everyone`,
    );
  }
  if (!rule.verb || (Array.isArray(rule.verb) && rule.verb.length === 0)) {
    throw new TypeError(`${method}: rule.verb is required, e.g. 'get' or ['create', 'update'] ('*' for all)`);
  }
  if (rule.path !== undefined && (rule.resource !== undefined || rule.apiGroup !== undefined)) {
    throw new TypeError(`${method}: a rule is either for a non-resource path or for resources, not both`);
  }
  return { ...rule };
}

export function ruleMatches(rule: AccessRule, a: AccessAttributes): boolean {
  const subject =
    (rule.user !== undefined && (rule.user === '*' || rule.user === a.user)) ||
    (rule.group !== undefined && (rule.group === '*' || a.groups.includes(rule.group)));
  if (!subject) return false;
  if (a.nonResource) {
    return (
      rule.path !== undefined &&
      pathMatches(rule.path, a.nonResource.path) &&
      matches(rule.verb, a.nonResource.verb)
    );
  }
  const r = a.resource;
  if (!r || rule.path !== undefined) return false;
  return (
    matches(rule.verb, r.verb) &&
    matches(rule.apiGroup, r.group) &&
    matches(rule.resource, r.resource) &&
    (rule.subresource === undefined ||
      rule.subresource === '*' ||
      rule.subresource === (r.subresource ?? '')) &&
    (rule.namespace === undefined || rule.namespace === '*' || rule.namespace === (r.namespace ?? '')) &&
    (rule.name === undefined || rule.name === '*' || rule.name === (r.name ?? ''))
  );
}

/** RBAC's name for a subject in its reasons: `ServiceAccount "<name>/<ns>"`, `User "x"`, `Group "g"`. */
function subjectOf(rule: AccessRule, a: AccessAttributes): string {
  if (rule.user !== undefined && (rule.user === a.user || rule.user === '*')) {
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(a.user);
    return sa ? `ServiceAccount "${sa[2]}/${sa[1]}"` : `User ${JSON.stringify(a.user)}`;
  }
  const group = rule.group === '*' ? (a.groups[0] ?? '*') : (rule.group ?? '');
  return `Group ${JSON.stringify(group)}`;
}

/** The reason RBAC gives for an allow, with the kit's rule standing for a (Cluster)RoleBinding. */
function rbacReason(rule: AccessRule, index: number, a: AccessAttributes): string {
  const name = rule.binding ?? `apiserver-token-testing:allow-${index}`;
  const namespaced = rule.namespace !== undefined && rule.namespace !== '*' && rule.path === undefined;
  return namespaced
    ? `RBAC: allowed by RoleBinding "${name}/${rule.namespace}" of Role "${name}" to ${subjectOf(rule, a)}`
    : `RBAC: allowed by ClusterRoleBinding "${name}" of ClusterRole "${name}" to ${subjectOf(rule, a)}`;
}

/**
 * The kit's SubjectAccessReview authorizer: a custom function; else system:masters (allowed, no
 * reason, as the privileged-group authorizer), deny rules, the bootstrap policy for non-resource
 * paths, then allow rules with RBAC-worded reasons. No match: `{allowed: false}` and no reason.
 */
export class RuleAuthorizer {
  #allow: AccessRule[] = [];
  #deny: AccessRule[] = [];
  #custom: Authorizer | undefined;
  readonly #bootstrap: readonly BootstrapBinding[];

  constructor(bootstrap: readonly BootstrapBinding[] = []) {
    this.#bootstrap = bootstrap;
  }

  allow(rule: AccessRule): void {
    this.#allow.push(validateRule(rule, 'allow'));
  }

  deny(rule: AccessRule): void {
    this.#deny.push(validateRule(rule, 'deny'));
  }

  set(fn: Authorizer | undefined): void {
    if (fn !== undefined && typeof fn !== 'function')
      throw new TypeError('setAuthorizer: expected a function or undefined');
    this.#custom = fn;
  }

  reset(): void {
    this.#allow = [];
    this.#deny = [];
    this.#custom = undefined;
  }

  async decide(attributes: AccessAttributes): Promise<AccessDecision> {
    if (this.#custom) {
      try {
        const result = await this.#custom(attributes);
        return typeof result === 'boolean' ? { allowed: result } : { ...result };
      } catch (error) {
        return { allowed: false, evaluationError: error instanceof Error ? error.message : String(error) };
      }
    }
    if (isSuperuser(attributes.groups)) return { allowed: true };
    const denyIndex = this.#deny.findIndex((rule) => ruleMatches(rule, attributes));
    if (denyIndex >= 0)
      return { allowed: false, denied: true, reason: `denied by test rule deny[${denyIndex}]` };
    if (attributes.nonResource) {
      const { verb, path } = attributes.nonResource;
      const hit = bootstrapAllows(this.#bootstrap, attributes.groups, verb, path);
      if (hit) {
        return {
          allowed: true,
          reason: `RBAC: allowed by ClusterRoleBinding "${hit.binding.name}" of ClusterRole "${hit.binding.name}" to Group "${hit.group}"`,
        };
      }
    }
    const allowIndex = this.#allow.findIndex((rule) => ruleMatches(rule, attributes));
    if (allowIndex >= 0)
      return { allowed: true, reason: rbacReason(this.#allow[allowIndex]!, allowIndex, attributes) };
    return { allowed: false };
  }
}
