/**
 * Options of the authorization policy (`createVerifier({ policy })`).
 *
 * @packageDocumentation
 */

import type { RequestLike } from '../contracts/verifier.js';
import { ApiserverTokenConfigError } from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';
import { ENV_PREFIX, envList } from '../lib/env.js';
import { assertKnownKeys } from '../lib/known-keys.js';
import { compileAllowList, type Matcher } from './glob.js';

/** `resourceAttributes` of a SubjectAccessReview: the Kubernetes API request the caller must be allowed to make. */
export interface SubjectAccessReviewResourceAttributes {
  /** Kubernetes verb, e.g. `'get'`, `'create'`, `'update'`; `'*'` for all. Required. */
  verb: string;
  /** API group; `''` (the default) is the core group. */
  group?: string;
  /** API version; default: any. */
  version?: string;
  /** Resource, e.g. `'deployments'`. Required. */
  resource: string;
  /** Subresource, e.g. `'status'`. Default: none. */
  subresource?: string;
  /** Namespace; default: all namespaces (cluster-wide). */
  namespace?: string;
  /** Object name; default: all. */
  name?: string;
}

/** `nonResourceAttributes` of a SubjectAccessReview: a non-resource URL such as `/metrics`. */
export interface SubjectAccessReviewNonResourceAttributes {
  /** The URL path, starting with `/`. */
  path: string;
  /** HTTP verb in lower case, e.g. `'get'`. */
  verb: string;
}

/** What a SubjectAccessReview asks about: exactly one of the two kinds of attributes. */
export type SubjectAccessReviewAttributes =
  | { resourceAttributes: SubjectAccessReviewResourceAttributes; nonResourceAttributes?: undefined }
  | { nonResourceAttributes: SubjectAccessReviewNonResourceAttributes; resourceAttributes?: undefined };

/**
 * Ask the apiserver (`authorization.k8s.io/v1` SubjectAccessReview, via `@kubernetes/client-node`
 * and the verifier's `kubeconfig`) whether the verified identity may make a given API request,
 * as kube-rbac-proxy does. Its credentials need `create` on `subjectaccessreviews` (the
 * `system:auth-delegator` ClusterRole).
 *
 * Decisions are cached per identity (username, uid, groups, extra) and attributes, under a keyed
 * hash; concurrent identical reviews share one call. An apiserver that cannot be reached (or
 * refuses our credentials) fails the request with 503 `apiserver_unavailable`, never an accept,
 * and that outcome is never cached.
 */
export interface SubjectAccessReviewOptions {
  /** The API request to check (static). Exactly one of `resourceAttributes`, `nonResourceAttributes`, `attributes`. */
  resourceAttributes?: SubjectAccessReviewResourceAttributes;
  /** The non-resource URL to check (static). */
  nonResourceAttributes?: SubjectAccessReviewNonResourceAttributes;
  /**
   * Attributes computed per request (e.g. from the AdmissionReview or the URL). May be async;
   * what it returns is validated and a bad value fails the request with 503, never an accept.
   */
  attributes?: (
    identity: ApiserverIdentity,
    request: RequestLike | undefined,
  ) => SubjectAccessReviewAttributes | Promise<SubjectAccessReviewAttributes>;
  /** How long an "allowed" decision is reused, in seconds. Default: `300` (kube-rbac-proxy's 5 minutes). */
  allowedTtl?: number;
  /** How long a "denied" decision is reused, in seconds. Default: `30` (kube-rbac-proxy's). */
  deniedTtl?: number;
  /** Most cached decisions (least recently used evicted). `0` disables the cache. Default: `10000`. */
  cacheMax?: number;
  /** Timeout of one SubjectAccessReview attempt, in milliseconds. Default: `5000`. */
  timeout?: number;
  /** Retries on HTTP 429/5xx and connection resets (never on 401/403). Default: `2`. */
  retries?: number;
}

/**
 * The authorization policy: each part is optional, and **every configured part must allow the
 * request** (they are combined with AND), so adding a list can only narrow who gets in, never
 * widen it. Within one list, any entry matching is enough. To allow alternatives ("this service
 * account or that user"), put them in one list (`usernames` covers service accounts too, as
 * `system:serviceaccount:<ns>:<name>`) or use `allow`.
 *
 * Patterns: `*` matches any run of characters except `:` (so `system:serviceaccounts:*` matches
 * every per-namespace group but a glob never spans two segments); `*` alone matches everything.
 *
 * The policy runs on every request, after the token is verified — on cache hits too: the cache
 * holds only the verified identity, never a policy verdict, except the SubjectAccessReview
 * decisions, cached per identity and attributes for their own TTLs. Order: the lists, the
 * KEP-6060 admission checks, `allow`, then the SubjectAccessReview (no apiserver call for a
 * request something local already refused). A refusal is 403 `forbidden`.
 */
export interface PolicyOptions {
  /**
   * Allowed service accounts as `namespace:name`, `*` in either part (`my-ns:*`, `*:webhook-auth`).
   * Callers that are not service accounts never match. Env: `APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS`
   * (comma-separated). Default: no restriction.
   */
  serviceAccounts?: string[];
  /** Allowed usernames (e.g. `system:serviceaccount:kube-system:webhook-auth`, `admin`), globs allowed. Env: `APISERVER_TOKEN_ALLOWED_USERNAMES`. Default: no restriction. */
  usernames?: string[];
  /** The caller must be in at least one of these groups (globs allowed). Env: `APISERVER_TOKEN_ALLOWED_GROUPS`. Default: no restriction. */
  groups?: string[];
  /** The caller must be a service account of one of these namespaces (globs allowed). Env: `APISERVER_TOKEN_ALLOWED_NAMESPACES`. Default: no restriction. */
  namespaces?: string[];
  /**
   * A custom predicate, possibly async. Only `true` allows; `false` (or any other value) is 403
   * `forbidden`; throwing an `ApiserverTokenError` rejects with it, anything else thrown is a 503.
   * `request` is undefined for `verifyToken(token)` without a request; in admission mode its
   * `body` is the parsed AdmissionReview. Default: none.
   */
  allow?: (identity: ApiserverIdentity, request: RequestLike | undefined) => boolean | Promise<boolean>;
  /** Ask the apiserver with a SubjectAccessReview. Default: none. */
  subjectAccessReview?: SubjectAccessReviewOptions;
}

/** The policy after validation. */
export interface ResolvedPolicy {
  /** Matches a service account's namespace and name against the `namespace:name` patterns, pairwise. */
  serviceAccounts?: (namespace: string, name: string) => boolean;
  usernames?: Matcher;
  groups?: Matcher;
  namespaces?: Matcher;
  allow?: NonNullable<PolicyOptions['allow']>;
  subjectAccessReview?: ResolvedSubjectAccessReview;
}

export interface ResolvedSubjectAccessReview {
  attributes: (
    identity: ApiserverIdentity,
    request: RequestLike | undefined,
  ) => SubjectAccessReviewAttributes | Promise<SubjectAccessReviewAttributes>;
  allowedTtlMs: number;
  deniedTtlMs: number;
  cacheMax: number;
  timeout: number;
  retries: number;
}

type Env = Readonly<Record<string, string | undefined>>;

const fail = (field: string, problem: string): never => {
  throw new ApiserverTokenConfigError(field, problem);
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Namespaces and service-account names are DNS subdomains (lower case, digits, '-', '.').
const DNS_PATTERN = /^[a-z0-9*]([a-z0-9.*-]*[a-z0-9*])?$/;
const NAMESPACE_PATTERN = /^[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?$/;
// Usernames and groups are free text in Kubernetes; refuse only what cannot be one.
const TEXT_PATTERN = /^[^\s,]+$/u;
const CONTROL = /\p{Cc}/u;

function checkGlob(pattern: string, field: string): void {
  if (pattern.includes('**')) fail(field, `${JSON.stringify(pattern)}: use a single \`*\``);
}

/** An allow-list from an option or its variable; an empty list is an error, not "allow nobody". */
function allowList(
  value: unknown,
  field: string,
  env: Env,
  variable: string,
  validate: (pattern: string, where: string) => void,
): string[] | undefined {
  const fromEnv = value === undefined ? envList(env, variable) : undefined;
  const where = value === undefined ? `${ENV_PREFIX}${variable}` : field;
  const list = value ?? fromEnv;
  if (list === undefined) return undefined;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    return fail(where, 'must be an array of strings');
  }
  if (list.length === 0) {
    return fail(
      where,
      'is an empty allow-list, which would refuse every caller: remove it or list at least one entry',
    );
  }
  for (const pattern of list as string[]) {
    if (pattern.trim() !== pattern || pattern === '')
      fail(where, `${JSON.stringify(pattern)} is empty or has surrounding spaces`);
    validate(pattern, where);
  }
  return list as string[];
}

function validateServiceAccount(pattern: string, where: string): void {
  const parts = pattern.split(':');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    fail(
      where,
      `${JSON.stringify(pattern)} must be \`namespace:name\` (\`*\` allowed in either part, e.g. my-ns:*)`,
    );
  }
  checkGlob(pattern, where);
  const [namespace, name] = parts as [string, string];
  if (!NAMESPACE_PATTERN.test(namespace))
    fail(where, `${JSON.stringify(pattern)}: ${JSON.stringify(namespace)} is not a namespace name or glob`);
  if (!DNS_PATTERN.test(name))
    fail(where, `${JSON.stringify(pattern)}: ${JSON.stringify(name)} is not a service-account name or glob`);
}

function validateNamespace(pattern: string, where: string): void {
  checkGlob(pattern, where);
  if (!NAMESPACE_PATTERN.test(pattern))
    fail(where, `${JSON.stringify(pattern)} is not a namespace name or glob`);
}

function validateText(pattern: string, where: string): void {
  checkGlob(pattern, where);
  if (!TEXT_PATTERN.test(pattern) || CONTROL.test(pattern))
    fail(where, `${JSON.stringify(pattern)} contains spaces, commas or control characters`);
}

function number(
  value: unknown,
  field: string,
  fallback: number,
  min: number,
  max: number,
  integer = false,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    return fail(
      field,
      `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const RESOURCE_FIELDS = ['verb', 'group', 'version', 'resource', 'subresource', 'namespace', 'name'];
const NON_RESOURCE_FIELDS = ['path', 'verb'];

/**
 * Checks SubjectAccessReview attributes; `fail` receives the field and the problem. Used at
 * construction for static attributes and per request for computed ones.
 */
export function checkAttributes(
  value: unknown,
  field: string,
  report: (field: string, problem: string) => never,
): SubjectAccessReviewAttributes {
  if (!isRecord(value)) return report(field, 'must be { resourceAttributes } or { nonResourceAttributes }');
  const { resourceAttributes: ra, nonResourceAttributes: nra } = value;
  if ((ra === undefined) === (nra === undefined)) {
    return report(field, 'needs exactly one of resourceAttributes and nonResourceAttributes');
  }
  const [attributes, name, known] =
    ra !== undefined
      ? [ra, 'resourceAttributes', RESOURCE_FIELDS]
      : [nra, 'nonResourceAttributes', NON_RESOURCE_FIELDS];
  if (!isRecord(attributes)) return report(`${field}.${name}`, 'must be an object');
  for (const [key, item] of Object.entries(attributes)) {
    if (!known.includes(key))
      report(`${field}.${name}.${key}`, `unknown attribute (known: ${known.join(', ')})`);
    if (item !== undefined && typeof item !== 'string') report(`${field}.${name}.${key}`, 'must be a string');
  }
  if (typeof attributes.verb !== 'string' || attributes.verb === '')
    report(`${field}.${name}.verb`, 'is required, e.g. "get"');
  if (ra !== undefined) {
    if (typeof attributes.resource !== 'string' || attributes.resource === '')
      report(`${field}.resourceAttributes.resource`, 'is required, e.g. "deployments"');
    return { resourceAttributes: { ...(attributes as unknown as SubjectAccessReviewResourceAttributes) } };
  }
  if (typeof attributes.path !== 'string' || !attributes.path.startsWith('/'))
    report(`${field}.nonResourceAttributes.path`, 'is required and must start with "/"');
  return {
    nonResourceAttributes: { ...(attributes as unknown as SubjectAccessReviewNonResourceAttributes) },
  };
}

const SAR_FIELDS = [
  'resourceAttributes',
  'nonResourceAttributes',
  'attributes',
  'allowedTtl',
  'deniedTtl',
  'cacheMax',
  'timeout',
  'retries',
];

function resolveSubjectAccessReview(value: unknown): ResolvedSubjectAccessReview {
  const field = 'policy.subjectAccessReview';
  if (!isRecord(value)) return fail(field, 'must be an object');
  assertKnownKeys(value, SAR_FIELDS, field);
  const { attributes: computed, resourceAttributes, nonResourceAttributes } = value;
  let attributes: ResolvedSubjectAccessReview['attributes'];
  if (computed !== undefined) {
    if (typeof computed !== 'function') fail(`${field}.attributes`, 'must be a function');
    if (resourceAttributes !== undefined || nonResourceAttributes !== undefined)
      fail(`${field}.attributes`, 'cannot be combined with resourceAttributes/nonResourceAttributes');
    attributes = computed as ResolvedSubjectAccessReview['attributes'];
  } else {
    const fixed = checkAttributes({ resourceAttributes, nonResourceAttributes }, field, (where, problem) =>
      fail(where, problem),
    );
    attributes = () => fixed;
  }
  return {
    attributes,
    allowedTtlMs: number(value.allowedTtl, `${field}.allowedTtl`, 300, 0, 86_400) * 1000,
    deniedTtlMs: number(value.deniedTtl, `${field}.deniedTtl`, 30, 0, 86_400) * 1000,
    cacheMax: number(value.cacheMax, `${field}.cacheMax`, 10_000, 0, 10_000_000, true),
    timeout: number(value.timeout, `${field}.timeout`, 5000, 1, 120_000),
    retries: number(value.retries, `${field}.retries`, 2, 0, 10, true),
  };
}

const POLICY_FIELDS = [
  'serviceAccounts',
  'usernames',
  'groups',
  'namespaces',
  'allow',
  'subjectAccessReview',
];

/** Names of the top-level allow-lists people carry over from other libraries. */
const POLICY_HINTS: Readonly<Record<string, string>> = {
  allowedServiceAccounts: 'did you mean `policy.serviceAccounts`?',
  allowedUsernames: 'did you mean `policy.usernames`?',
  allowedGroups: 'did you mean `policy.groups`?',
  allowedNamespaces: 'did you mean `policy.namespaces`?',
  allowedCallers:
    'allowed callers are `policy.serviceAccounts`, `policy.usernames`, `policy.groups` or `policy.namespaces`',
};

/** Validate `policy` (and the `APISERVER_TOKEN_ALLOWED_*` variables); undefined when nothing is configured. */
export function resolvePolicyOptions(options: unknown, env: Env): ResolvedPolicy | undefined {
  if (options !== undefined && !isRecord(options)) return fail('policy', 'must be an object');
  const o = (options ?? {}) as Record<string, unknown>;
  assertKnownKeys(o, POLICY_FIELDS, 'policy', POLICY_HINTS);
  const policy: ResolvedPolicy = {};
  const serviceAccounts = allowList(
    o.serviceAccounts,
    'policy.serviceAccounts',
    env,
    'ALLOWED_SERVICE_ACCOUNTS',
    validateServiceAccount,
  );
  if (serviceAccounts !== undefined) {
    // Each entry is matched as a pair; per-part matchers would let `a:x` and `b:y` allow `a:y`.
    const pairs = serviceAccounts.map((pattern) => {
      const [namespace, name] = pattern.split(':') as [string, string];
      return { namespace: compileAllowList([namespace]), name: compileAllowList([name]) };
    });
    policy.serviceAccounts = (namespace, name) =>
      pairs.some((pair) => pair.namespace(namespace) && pair.name(name));
  }
  const usernames = allowList(o.usernames, 'policy.usernames', env, 'ALLOWED_USERNAMES', validateText);
  if (usernames !== undefined) policy.usernames = compileAllowList(usernames);
  const groups = allowList(o.groups, 'policy.groups', env, 'ALLOWED_GROUPS', validateText);
  if (groups !== undefined) policy.groups = compileAllowList(groups);
  const namespaces = allowList(
    o.namespaces,
    'policy.namespaces',
    env,
    'ALLOWED_NAMESPACES',
    validateNamespace,
  );
  if (namespaces !== undefined) policy.namespaces = compileAllowList(namespaces);
  if (o.allow !== undefined) {
    if (typeof o.allow !== 'function')
      fail('policy.allow', 'must be a function (identity, request) => boolean | Promise<boolean>');
    policy.allow = o.allow as NonNullable<PolicyOptions['allow']>;
  }
  if (o.subjectAccessReview !== undefined)
    policy.subjectAccessReview = resolveSubjectAccessReview(o.subjectAccessReview);
  return Object.keys(policy).length === 0 ? undefined : policy;
}
