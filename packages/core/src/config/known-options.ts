import { ApiserverTokenConfigError } from '../errors.js';
import { ENV_PREFIX } from '../lib/env.js';
import { closest } from '../lib/known-keys.js';

/**
 * Every option `createVerifier()` accepts. `metrics` is resolved by its own module; it is known
 * here so that strict checking and the metrics option can land in either order.
 */
export const VERIFIER_OPTIONS: readonly string[] = [
  'audience',
  'mode',
  'issuer',
  'jwks',
  'issuers',
  'kubeconfig',
  'tokenReview',
  'cache',
  'clockTolerance',
  'algorithms',
  'maxTokenBytes',
  'maxVerificationsPerSecond',
  'verificationBurst',
  'allowLegacyTokens',
  'logger',
  'diagnosticsLogger',
  'now',
  'env',
  'inCluster',
  'policy',
  'admission',
  'clientCertificate',
  'enforce',
  'metrics',
];

/** Options the framework adapters take themselves, before the rest reaches `createVerifier()`. */
export const ADAPTER_OPTIONS: readonly string[] = [
  'verifier',
  'respond',
  'onVerified',
  'onRejected',
  'errors',
  'hook',
];

const POLICY = 'it belongs in `policy`';

/** Names people reach for that live elsewhere: said outright rather than guessed. */
export const VERIFIER_HINTS: Readonly<Record<string, string>> = {
  audiences: 'did you mean `audience` (a string or an array of strings)?',
  allowedServiceAccounts: `did you mean \`policy.serviceAccounts\`? ${POLICY}`,
  serviceAccounts: `did you mean \`policy.serviceAccounts\`? ${POLICY}`,
  allowedUsernames: `did you mean \`policy.usernames\`? ${POLICY}`,
  usernames: `did you mean \`policy.usernames\`? ${POLICY}`,
  allowedGroups: `did you mean \`policy.groups\`? ${POLICY}`,
  groups: `did you mean \`policy.groups\`? ${POLICY}`,
  allowedNamespaces: `did you mean \`policy.namespaces\`? ${POLICY}`,
  namespaces: `did you mean \`policy.namespaces\`? ${POLICY}`,
  allowedCallers:
    'did you mean `policy`? Allowed callers are `policy.serviceAccounts`, `policy.usernames`, `policy.groups` or `policy.namespaces`',
  allow: `did you mean \`policy.allow\`? ${POLICY}`,
  subjectAccessReview: `did you mean \`policy.subjectAccessReview\`? ${POLICY}`,
  jwksUri: 'did you mean `jwks.uri`?',
  jwksUrl: 'did you mean `jwks.uri`?',
  discovery: 'did you mean `jwks.discovery`?',
  discoveryUrl: 'did you mean `jwks.discovery`?',
  ca: 'did you mean `jwks.ca`?',
  caFile: 'did you mean `jwks.caFile`?',
  ttl: 'did you mean `cache.ttl`?',
  cacheTtl: 'did you mean `cache.ttl` (or `tokenReview.cacheTtl`)?',
  leeway: 'did you mean `clockTolerance` (seconds)?',
  clockSkew: 'did you mean `clockTolerance` (seconds)?',
  observe: 'did you mean `enforce: false` (observe mode)?',
  rateLimit: 'did you mean `maxVerificationsPerSecond` (signature verifications per second)?',
  maxVerificationsPerSec: 'did you mean `maxVerificationsPerSecond`?',
  dryRun: 'did you mean `enforce: false` (observe mode)?',
  verifier: 'is an adapter option (verifyApiserverToken, fastifyApiserverToken), not one of createVerifier()',
  respond: 'is an adapter option (verifyApiserverToken, fastifyApiserverToken), not one of createVerifier()',
  onVerified:
    'is an adapter option (verifyApiserverToken, fastifyApiserverToken), not one of createVerifier()',
  onRejected:
    'is an adapter option (verifyApiserverToken, fastifyApiserverToken), not one of createVerifier()',
};

/**
 * Every `APISERVER_TOKEN_*` variable read anywhere (core and the adapters), without the prefix.
 * A variable of ours that is not here is a typo in a Deployment, refused at construction.
 */
export const KNOWN_ENV: readonly string[] = [
  'AUDIENCE',
  'MODE',
  'ISSUER',
  'DISCOVERY_URL',
  'JWKS_URI',
  'JWKS_FILE',
  'CA_FILE',
  'CREDENTIAL_FILE',
  'JWKS_TIMEOUT',
  'JWKS_COOLDOWN',
  'JWKS_MAX_STALE',
  'KUBECONFIG',
  'CACHE_MAX',
  'CACHE_TTL',
  'CLOCK_TOLERANCE',
  'ALGORITHMS',
  'MAX_TOKEN_BYTES',
  'MAX_VERIFICATIONS_PER_SECOND',
  'VERIFICATION_BURST',
  'ALLOW_LEGACY_TOKENS',
  'ALLOWED_SERVICE_ACCOUNTS',
  'ALLOWED_USERNAMES',
  'ALLOWED_GROUPS',
  'ALLOWED_NAMESPACES',
  'ADMISSION',
  'ADMISSION_BOUND_TO',
  'ADMISSION_REQUIRE_WEBHOOK_BINDING',
  'CLIENT_CERTIFICATE',
  'CLIENT_CA_FILE',
  'ALLOWED_COMMON_NAMES',
  'ALLOWED_ORGANIZATIONS',
  'TOKENREVIEW_TIMEOUT',
  'TOKENREVIEW_MAX_IN_FLIGHT',
  'TOKENREVIEW_CACHE_TTL',
  'TOKENREVIEW_FAILURE_CACHE_TTL',
  'TOKENREVIEW_ALLOW_OPAQUE_TOKENS',
  'RESPOND',
  'ENFORCE',
];

/**
 * Refuses an `APISERVER_TOKEN_*` variable nothing reads (with the closest known name): a typo
 * such as `APISERVER_TOKEN_ALLOWED_SERVICEACCOUNTS` would otherwise silently turn a restriction off.
 *
 * @throws ApiserverTokenConfigError naming the variable.
 */
export function assertKnownEnv(env: Readonly<Record<string, string | undefined>>): void {
  for (const name of Object.keys(env)) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const suffix = name.slice(ENV_PREFIX.length);
    if (KNOWN_ENV.includes(suffix)) continue;
    const near = closest(suffix, KNOWN_ENV);
    throw new ApiserverTokenConfigError(
      name,
      near === undefined
        ? `unknown environment variable (known: ${KNOWN_ENV.map((known) => ENV_PREFIX + known).join(', ')})`
        : `unknown environment variable: did you mean ${ENV_PREFIX}${near}?`,
    );
  }
}
