import type { RuleAuthorizer } from './authorizer.js';
import { forbiddenResourceStatus, invalidStatus, statusObject } from './http/status.js';
import { serviceAccountUsername } from './jwt/claims.js';
import type { Minter } from './jwt/minter.js';
import { goSliceLiteral } from './lib/go-format.js';
import type { ObjectRegistry } from './registry.js';
import { KubernetesStatusError } from './status-error.js';
import type { MintWebhookTokenOptions } from './types.js';
import { webhookAudience } from './webhook-audience.js';

/** KEP-6060: a webhook token lives exactly this long. */
export const WEBHOOK_TOKEN_SECONDS = 600;
const DEFAULT_NAMESPACE = 'kube-system';
const DEFAULT_SERVICE_ACCOUNT = 'webhook-auth';
const ADMISSION_GROUP = 'admissionregistration.k8s.io';
const RESOURCE = {
  ValidatingWebhookConfiguration: 'validatingwebhookconfigurations',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
} as const;
const TOKEN_REQUEST_GROUP = 'authentication.k8s.io';
const BOUND_DETAIL = 'for a token bound to a webhook configuration';

export interface IssuanceContext {
  minter: Minter;
  registry: ObjectRegistry;
  authorizer: RuleAuthorizer;
  issuer: () => string;
  apiAudiences: () => readonly string[];
}

/**
 * Issues a KEP-6060 webhook token under the rules of Kubernetes 1.37's TokenRequest (feature gate
 * `APIServerWebhookAuthenticationToken`), in the apiserver's order: authorization (`attest` on the
 * webhook configuration), then the spec (one audience that is not the apiserver's own, exactly
 * 600 s, at least one attested group), then the objects (a deleted service account or
 * configuration: 404), then the attested groups against the configuration's rules. A refusal
 * throws {@link KubernetesStatusError} with the `Status` the apiserver would answer.
 *
 * The kit stands in for a cluster whose admin bound `attest` to the default caller
 * `kube-system:webhook-auth`; other service accounts need an `allow` rule (a `deny` rule takes the
 * permission away from anyone).
 */
export async function issueWebhookToken(
  options: MintWebhookTokenOptions,
  ctx: IssuanceContext,
): Promise<string> {
  const { webhook } = options;
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
  const resource = RESOURCE[webhook.kind];

  // Authorization comes first on a real apiserver: the caller's `attest` permission on the configuration.
  const username = serviceAccountUsername(namespace, serviceAccount);
  const decision = await ctx.authorizer.decide({
    user: username,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
    resource: { verb: 'attest', group: ADMISSION_GROUP, version: 'v1', resource, name: webhook.name },
  });
  const builtIn = namespace === DEFAULT_NAMESPACE && serviceAccount === DEFAULT_SERVICE_ACCOUNT;
  if (!(decision.allowed || (builtIn && decision.denied !== true))) {
    throw new KubernetesStatusError(
      forbiddenResourceStatus(username, 'attest', ADMISSION_GROUP, resource, { name: webhook.name }),
    );
  }

  // Validation of the spec, every error at once as the apiserver reports them.
  const audiences: unknown[] = Array.isArray(options.audience) ? options.audience : [options.audience];
  const errors: Array<{ field: string; detail: string }> = [];
  if (audiences.length !== 1 || audiences[0] === undefined || audiences[0] === null) {
    errors.push({
      field: 'spec.audiences',
      detail: `Invalid value: ${goSliceLiteral(audiences.map(String))}: must hold exactly one audience ${BOUND_DETAIL}`,
    });
  }
  const audience =
    audiences.length === 1 && audiences[0]
      ? webhookAudience(audiences[0] as MintWebhookTokenOptions['audience'])
      : undefined;
  const own = new Set([...ctx.apiAudiences(), ctx.issuer()]);
  if (audience !== undefined && own.has(audience)) {
    errors.push({
      field: 'spec.audiences',
      detail: `Invalid value: ${goSliceLiteral([audience])}: may not be an audience of the apiserver itself ${BOUND_DETAIL}`,
    });
  }
  const lifetime = options.expiresIn ?? WEBHOOK_TOKEN_SECONDS;
  if (lifetime !== WEBHOOK_TOKEN_SECONDS) {
    errors.push({
      field: 'spec.expirationSeconds',
      detail: `Invalid value: ${lifetime}: must be ${WEBHOOK_TOKEN_SECONDS} ${BOUND_DETAIL}`,
    });
  }
  const apiGroups = options.apiGroups ?? ['*'];
  if (!Array.isArray(apiGroups) || apiGroups.length === 0 || apiGroups.some((g) => typeof g !== 'string')) {
    errors.push({
      field: 'spec.attestations.admissionReviewAPIGroups',
      detail: `Invalid value: ${goSliceLiteral(Array.isArray(apiGroups) ? apiGroups.map(String) : [])}: must name an API group, or "*" ${BOUND_DETAIL}`,
    });
  }
  if (errors.length > 0)
    throw new KubernetesStatusError(invalidStatus('TokenRequest', TOKEN_REQUEST_GROUP, '', errors));

  // The objects: a deleted one is refused; one the test never mentioned is created, for convenience.
  if (ctx.registry.wasDeleted('ServiceAccount', namespace, serviceAccount)) {
    throw new KubernetesStatusError(
      statusObject(404, 'NotFound', `serviceaccounts ${JSON.stringify(serviceAccount)} not found`, {
        name: serviceAccount,
        kind: 'serviceaccounts',
      }),
    );
  }
  if (ctx.registry.wasDeleted(webhook.kind, '', webhook.name)) {
    throw new KubernetesStatusError(
      statusObject(
        404,
        'NotFound',
        `${resource}.${ADMISSION_GROUP} ${JSON.stringify(webhook.name)} not found`,
        {
          name: webhook.name,
          group: ADMISSION_GROUP,
          kind: resource,
        },
      ),
    );
  }
  const configuration = ctx.registry.get(webhook.kind, '', webhook.name);
  const ruleGroups = configuration?.apiGroups ?? ['*'];
  if (!apiGroups.includes('*') && !ruleGroups.includes('*')) {
    const outside = apiGroups.filter((g) => !ruleGroups.includes(g));
    if (outside.length > 0) {
      throw new KubernetesStatusError(
        invalidStatus('TokenRequest', TOKEN_REQUEST_GROUP, '', [
          {
            field: 'spec.attestations.admissionReviewAPIGroups',
            detail: `Invalid value: ${goSliceLiteral(outside)}: must be "*" or among the API groups of the rules of ${webhook.kind} ${JSON.stringify(webhook.name)} (${goSliceLiteral(ruleGroups)})`,
          },
        ]),
      );
    }
  }
  return ctx.minter.mintWebhook({
    ...options,
    namespace,
    serviceAccount,
    expiresIn: WEBHOOK_TOKEN_SECONDS,
    audience: audience as string,
    apiGroups: [...apiGroups],
  });
}
