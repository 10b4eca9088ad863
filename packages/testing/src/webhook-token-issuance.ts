import type { RuleAuthorizer } from './authorizer.js';
import { badRequestStatus, forbiddenResourceStatus, invalidStatus, statusObject } from './http/status.js';
import { serviceAccountUsername } from './jwt/claims.js';
import type { Minter } from './jwt/minter.js';
import type { ObjectRegistry } from './registry.js';
import { KubernetesStatusError } from './status-error.js';
import type { MintWebhookTokenOptions } from './types.js';
import { webhookAudience } from './webhook-audience.js';

/** KEP-6060: a webhook token lives at most this long (longer requests are shortened to it). */
export const WEBHOOK_TOKEN_SECONDS = 600;
const MIN_TOKEN_SECONDS = 600;
const MAX_TOKEN_SECONDS = 2 ** 32;
const DEFAULT_NAMESPACE = 'kube-system';
const DEFAULT_SERVICE_ACCOUNT = 'webhook-auth';
const ATTESTATION_PATH = 'spec.attestations[admissionReviewAPIGroups]';
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export interface IssuanceContext {
  minter: Minter;
  registry: ObjectRegistry;
  authorizer: RuleAuthorizer;
  apiAudiences: () => readonly string[];
  now: () => number;
}

/** A field error's value as kube-apiserver 1.3x prints it: JSON (`["a","b"]`, `""`, `null`). */
const value = (v: unknown): string => JSON.stringify(v ?? null);

/**
 * Issues a KEP-6060 webhook token the way Kubernetes 1.37's TokenRequest does (feature gate
 * `APIServerWebhookAuthenticationToken`), in its order and wording:
 * 1. the service account must exist (404; one the test never mentioned is created);
 * 2. validation, 422: `expirationSeconds` at least 600 (and at most 2^32), exactly one audience,
 *    exactly one attested API group, not `""` (the core group only through `*`), a DNS subdomain;
 * 3. 400 `api server audiences are invalid for webhook token requests` for the apiserver's own audience;
 * 4. the lifetime is shortened to 600 s;
 * 5. the service account needs `attest` on `admissionReviewAPIGroups` (group
 *    `authentication.k8s.io`) named after the attested group: 403 in RBAC wording;
 * 6. the configuration must exist and not be past its deletion timestamp, and unless the group is
 *    `*` one of its webhooks must have a rule with that group (or `*`) and a `clientConfig` whose
 *    audience is the token's: otherwise 403 `serviceaccounts/token "<sa>" is forbidden: token request denied`;
 * 7. a `webhook.uid` other than the configuration's: 409.
 * A refusal throws {@link KubernetesStatusError} carrying the `Status` the apiserver would answer.
 *
 * The kit stands in for a cluster whose admin lets the default caller `kube-system:webhook-auth`
 * attest any group; other service accounts need an `allow` rule, and a `deny` rule takes the
 * permission away from anyone. A configuration the test never described (no `webhooks`) matches
 * any audience and group.
 */
export async function issueWebhookToken(
  options: MintWebhookTokenOptions,
  ctx: IssuanceContext,
): Promise<string> {
  const { webhook } = options ?? {};
  if (
    !webhook ||
    (webhook.kind !== 'ValidatingWebhookConfiguration' && webhook.kind !== 'MutatingWebhookConfiguration')
  ) {
    throw new TypeError(
      `mintWebhookToken: webhook.kind must be 'ValidatingWebhookConfiguration' or 'MutatingWebhookConfiguration'`,
    );
  }
  if (typeof webhook.name !== 'string' || webhook.name === '') {
    throw new TypeError(
      'mintWebhookToken: webhook.name is required (the configuration the token is bound to)',
    );
  }
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const serviceAccount = options.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT;

  // 1. The service account.
  if (ctx.registry.wasDeleted('ServiceAccount', namespace, serviceAccount)) {
    throw new KubernetesStatusError(
      statusObject(404, 'NotFound', `serviceaccounts ${JSON.stringify(serviceAccount)} not found`, {
        name: serviceAccount,
        kind: 'serviceaccounts',
      }),
    );
  }
  const sa = ctx.registry.ensure('ServiceAccount', namespace, serviceAccount);

  // 2. Static validation of the TokenRequest, every error at once.
  const audiences: unknown[] = Array.isArray(options.audience) ? options.audience : [options.audience];
  const resolved = audiences.map((a) =>
    typeof a === 'string' || (a !== null && typeof a === 'object')
      ? webhookAudience(a as MintWebhookTokenOptions['audience'])
      : String(a),
  );
  const lifetime = options.expiresIn ?? 3600; // TokenRequest's default, then shortened to 600 s
  const apiGroups = options.apiGroups ?? ['*'];
  const errors: Array<{ field: string; detail: string }> = [];
  if (!(lifetime >= MIN_TOKEN_SECONDS)) {
    errors.push({
      field: 'spec.expirationSeconds',
      detail: `Invalid value: ${lifetime}: may not specify a duration less than 10 minutes`,
    });
  } else if (lifetime > MAX_TOKEN_SECONDS) {
    errors.push({
      field: 'spec.expirationSeconds',
      detail: `Invalid value: ${lifetime}: may not specify a duration larger than 2^32 seconds`,
    });
  }
  if (resolved.length !== 1) {
    errors.push({
      field: 'spec.audiences',
      detail: `Invalid value: ${value(resolved)}: must be length 1 when bound to a webhook config`,
    });
  }
  if (!Array.isArray(apiGroups) || apiGroups.length !== 1) {
    errors.push({
      field: ATTESTATION_PATH,
      detail: `Invalid value: ${value(apiGroups)}: must specify a single value`,
    });
  } else {
    const group = apiGroups[0];
    if (group === '') {
      errors.push({ field: ATTESTATION_PATH, detail: 'Invalid value: "": may not be an empty string' });
    } else if (group !== '*') {
      const reasons = [
        ...(String(group).length > 253 ? ['must be no more than 253 characters'] : []),
        ...(DNS1123_SUBDOMAIN.test(String(group)) ? [] : [DNS1123_SUBDOMAIN_MESSAGE]),
      ];
      for (const reason of reasons) {
        errors.push({
          field: ATTESTATION_PATH,
          detail: `Invalid value: ${value(group)}: must specify a valid API Group: ${reason}`,
        });
      }
    }
  }
  if (errors.length > 0) {
    throw new KubernetesStatusError(invalidStatus('TokenRequest', 'authentication.k8s.io', '', errors));
  }
  const audience = resolved[0]!;
  const group = apiGroups[0]!;

  // 3. Never a token the apiserver itself would accept.
  if (ctx.apiAudiences().includes(audience)) {
    throw new KubernetesStatusError(
      badRequestStatus('api server audiences are invalid for webhook token requests'),
    );
  }

  // 5. The `attest` permission, asked of the authorizer as kube-apiserver does.
  const username = serviceAccountUsername(namespace, serviceAccount);
  const decision = await ctx.authorizer.decide({
    user: username,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
    uid: sa.uid,
    resource: {
      verb: 'attest',
      group: 'authentication.k8s.io',
      version: '*',
      resource: 'admissionReviewAPIGroups',
      name: group,
    },
  });
  const builtIn = namespace === DEFAULT_NAMESPACE && serviceAccount === DEFAULT_SERVICE_ACCOUNT;
  if (!(decision.allowed || (builtIn && decision.denied !== true))) {
    const status = forbiddenResourceStatus(
      username,
      'attest',
      'authentication.k8s.io',
      'admissionReviewAPIGroups',
      {
        name: group,
      },
    );
    if (decision.reason) status.message += `: ${decision.reason}`;
    throw new KubernetesStatusError(status);
  }

  // 6. The configuration and, unless `*`, a webhook of it matching both group and audience.
  const denied = () =>
    new KubernetesStatusError(
      statusObject(
        403,
        'Forbidden',
        `serviceaccounts/token ${JSON.stringify(serviceAccount)} is forbidden: token request denied`,
        {
          name: serviceAccount,
          kind: 'serviceaccounts/token',
        },
      ),
    );
  if (ctx.registry.wasDeleted(webhook.kind, '', webhook.name)) throw denied();
  // A configuration the test never mentioned is created (with `webhook.uid` when given).
  const existing = ctx.registry.get(webhook.kind, '', webhook.name);
  const configuration = existing ?? ctx.registry.create(webhook.kind, '', webhook.name, webhook.uid);
  if (configuration.deletionTimestamp !== undefined && ctx.now() > configuration.deletionTimestamp)
    throw denied();
  if (group !== '*' && configuration.webhooks) {
    const matches = configuration.webhooks.some(
      (w) => (w.apiGroups.includes('*') || w.apiGroups.includes(group)) && w.audience === audience,
    );
    if (!matches) throw denied();
  }

  // 7. The bound object reference's uid.
  if (webhook.uid !== undefined && webhook.uid !== configuration.uid) {
    throw new KubernetesStatusError(
      statusObject(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${webhook.kind}.admissionregistration.k8s.io ${JSON.stringify(webhook.name)}: the UID in the bound object reference (${webhook.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        { name: webhook.name, group: 'admissionregistration.k8s.io', kind: webhook.kind },
      ),
    );
  }

  // 4. Shortened to 600 s.
  return ctx.minter.mintWebhook({
    ...options,
    namespace,
    serviceAccount,
    serviceAccountUid: options.serviceAccountUid ?? sa.uid,
    expiresIn: Math.min(lifetime, WEBHOOK_TOKEN_SECONDS),
    audience,
    apiGroups: [group],
    webhook: { kind: webhook.kind, name: webhook.name, uid: webhook.uid ?? configuration.uid },
  });
}
