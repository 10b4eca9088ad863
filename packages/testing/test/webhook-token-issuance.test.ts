import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesStatusError, startTestApiserver, type TestApiserver } from '../src/index.js';
import { decodeJwt } from './helpers.js';

// KEP-6060 issuance as Kubernetes 1.37's TokenRequest does it (alpha, not recorded): the kit
// refuses what that apiserver would refuse, with a Status in kube-apiserver's layout.
const WEBHOOK = { kind: 'ValidatingWebhookConfiguration', name: 'policy' } as const;
const AUDIENCE = 'https://policy.policy-system.svc:443/validate';
const SA_USER = 'system:serviceaccount:tenant:caller';

async function refusal(promise: Promise<string>): Promise<KubernetesStatusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KubernetesStatusError);
  return error as KubernetesStatusError;
}

describe('mintWebhookToken issuance (KEP-6060, Kubernetes 1.37 rules)', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver({ tokenReviewCache: false });
  });
  afterAll(() => api.close());

  it('issues one audience, 600 s, the binding and the attested groups to the default caller', async () => {
    const token = await api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups: ['apps'] });
    const { claims } = decodeJwt(token);
    expect(claims.aud).toEqual([AUDIENCE]);
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
    expect(claims.sub).toBe('system:serviceaccount:kube-system:webhook-auth');
    expect(claims['kubernetes.io']).toMatchObject({
      attestations: { admissionReviewAPIGroups: ['apps'] },
      validatingwebhookconfiguration: { name: 'policy' },
    });
    expect((await api.reviewToken(token, [AUDIENCE])).ok).toBe(true);
    // expiresIn: 600 said out loud is the same request.
    await expect(
      api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, expiresIn: 600 }),
    ).resolves.toMatch(/^ey/);
  });

  it('needs the attest permission on the configuration: 403 in RBAC wording, then allowed by a rule', async () => {
    const ask = () =>
      api.mintWebhookToken({
        webhook: WEBHOOK,
        audience: AUDIENCE,
        namespace: 'tenant',
        serviceAccount: 'caller',
      });
    const error = await refusal(ask());
    expect(error.code).toBe(403);
    expect(error.reason).toBe('Forbidden');
    expect(error.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `validatingwebhookconfigurations.admissionregistration.k8s.io "policy" is forbidden: User "${SA_USER}" cannot attest resource "validatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope`,
      reason: 'Forbidden',
      details: {
        name: 'policy',
        group: 'admissionregistration.k8s.io',
        kind: 'validatingwebhookconfigurations',
      },
      code: 403,
    });
    expect(error.message).toBe(error.status.message);

    // A rule for another configuration, or another verb, does not grant it.
    api.allow({
      user: SA_USER,
      verb: 'attest',
      apiGroup: 'admissionregistration.k8s.io',
      resource: 'validatingwebhookconfigurations',
      name: 'other',
    });
    api.allow({ user: SA_USER, verb: 'create', apiGroup: 'admissionregistration.k8s.io' });
    expect((await refusal(ask())).code).toBe(403);

    api.allow({
      user: SA_USER,
      verb: 'attest',
      apiGroup: 'admissionregistration.k8s.io',
      resource: 'validatingwebhookconfigurations',
      name: 'policy',
    });
    expect(decodeJwt(await ask()).claims.sub).toBe(SA_USER);

    // A deny rule takes it away, from the built-in caller too.
    api.deny({ user: 'system:serviceaccount:kube-system:webhook-auth', verb: 'attest' });
    const denied = await refusal(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE }));
    expect(denied.code).toBe(403);
    expect(denied.message).toContain('User "system:serviceaccount:kube-system:webhook-auth" cannot attest');
    api.resetAuthorizer();
    await expect(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE })).resolves.toMatch(/^ey/);
  });

  it('422 with details.causes for the apiserver own audience, another lifetime, and no attested group', async () => {
    const own = await refusal(api.mintWebhookToken({ webhook: WEBHOOK, audience: api.issuer }));
    expect(own.code).toBe(422);
    expect(own.status.message).toBe(
      `TokenRequest.authentication.k8s.io "" is invalid: spec.audiences: Invalid value: []string{"${api.issuer}"}: may not be an audience of the apiserver itself for a token bound to a webhook configuration`,
    );
    expect(own.status.details).toEqual({
      group: 'authentication.k8s.io',
      kind: 'TokenRequest',
      causes: [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: []string{"${api.issuer}"}: may not be an audience of the apiserver itself for a token bound to a webhook configuration`,
          field: 'spec.audiences',
        },
      ],
    });

    const several = await refusal(
      api.mintWebhookToken({
        webhook: WEBHOOK,
        audience: [AUDIENCE, 'https://other.example'] as never,
        expiresIn: 3600,
        apiGroups: [],
      }),
    );
    expect(several.code).toBe(422);
    expect(several.status.details?.causes?.map((c) => c.field)).toEqual([
      'spec.audiences',
      'spec.expirationSeconds',
      'spec.attestations.admissionReviewAPIGroups',
    ]);
    expect(several.message).toBe(
      'TokenRequest.authentication.k8s.io "" is invalid: [' +
        `spec.audiences: Invalid value: []string{"${AUDIENCE}", "https://other.example"}: must hold exactly one audience for a token bound to a webhook configuration, ` +
        'spec.expirationSeconds: Invalid value: 3600: must be 600 for a token bound to a webhook configuration, ' +
        'spec.attestations.admissionReviewAPIGroups: Invalid value: []string{}: must name an API group, or "*" for a token bound to a webhook configuration]',
    );
  });

  it('attests only groups among the configuration rules, unless "*"', async () => {
    const webhook = { kind: 'MutatingWebhookConfiguration', name: 'apps-only' } as const;
    api.createObject(webhook.kind, '', webhook.name, { apiGroups: ['apps', ''] });
    const mint = (apiGroups: string[]) => api.mintWebhookToken({ webhook, audience: AUDIENCE, apiGroups });
    await expect(mint(['apps'])).resolves.toMatch(/^ey/);
    await expect(mint(['', 'apps'])).resolves.toMatch(/^ey/);
    await expect(mint(['*'])).resolves.toMatch(/^ey/);
    const outside = await refusal(mint(['apps', 'batch']));
    expect(outside.code).toBe(422);
    expect(outside.message).toBe(
      'TokenRequest.authentication.k8s.io "" is invalid: spec.attestations.admissionReviewAPIGroups: Invalid value: []string{"batch"}: must be "*" or among the API groups of the rules of MutatingWebhookConfiguration "apps-only" ([]string{"apps", ""})',
    );
    // A configuration whose rules name every group ('*', the default) lets any group be attested.
    api.createObject(webhook.kind, '', webhook.name, { apiGroups: ['*'] });
    await expect(mint(['batch'])).resolves.toMatch(/^ey/);
    expect(() => api.createObject('Pod', 'default', 'p', { apiGroups: ['apps'] })).toThrow(
      /webhook configuration/,
    );
  });

  it('refuses a deleted configuration or service account (404) until it is created again', async () => {
    const webhook = { kind: 'ValidatingWebhookConfiguration', name: 'short-lived' } as const;
    const first = await api.mintWebhookToken({ webhook, audience: AUDIENCE });
    api.deleteObject(webhook.kind, '', webhook.name);
    expect((await api.reviewToken(first, [AUDIENCE])).ok).toBe(false);
    const gone = await refusal(api.mintWebhookToken({ webhook, audience: AUDIENCE }));
    expect(gone.status).toMatchObject({
      code: 404,
      reason: 'NotFound',
      message: 'validatingwebhookconfigurations.admissionregistration.k8s.io "short-lived" not found',
      details: {
        name: 'short-lived',
        group: 'admissionregistration.k8s.io',
        kind: 'validatingwebhookconfigurations',
      },
    });
    const { uid } = api.createObject(webhook.kind, '', webhook.name);
    const again = decodeJwt(await api.mintWebhookToken({ webhook, audience: AUDIENCE })).claims[
      'kubernetes.io'
    ];
    expect(again).toMatchObject({ validatingwebhookconfiguration: { name: 'short-lived', uid } });

    api.deleteObject('ServiceAccount', 'kube-system', 'webhook-auth');
    const noSa = await refusal(api.mintWebhookToken({ webhook, audience: AUDIENCE }));
    expect(noSa.status).toMatchObject({
      code: 404,
      message: 'serviceaccounts "webhook-auth" not found',
      details: { name: 'webhook-auth', kind: 'serviceaccounts' },
    });
    api.createObject('ServiceAccount', 'kube-system', 'webhook-auth');
    await expect(api.mintWebhookToken({ webhook, audience: AUDIENCE })).resolves.toMatch(/^ey/);
  });

  it('mintToken stays a forging tool: it builds the tokens issuance refuses', async () => {
    const forged = await api.mintToken({
      audiences: [api.issuer, AUDIENCE],
      expiresIn: 3600,
      boundObject: { kind: 'ValidatingWebhookConfiguration', name: 'never-issued' },
      attestations: { admissionReviewAPIGroups: [] },
    });
    const { claims } = decodeJwt(forged);
    expect(claims.aud).toEqual([api.issuer, AUDIENCE]);
    expect((claims['kubernetes.io'] as Record<string, unknown>).attestations).toEqual({
      admissionReviewAPIGroups: [],
    });
  });
});
