import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesStatusError, startTestApiserver, type TestApiserver } from '../src/index.js';
import { decodeJwt } from './helpers.js';

// KEP-6060 issuance as Kubernetes 1.37's TokenRequest does it (alpha, not recorded: the order,
// checks and wording follow the upstream TokenRequest storage and validation code). The kit
// refuses what that apiserver would refuse, with the Status it would answer.
const WEBHOOK = { kind: 'ValidatingWebhookConfiguration', name: 'policy' } as const;
const AUDIENCE = 'https://policy.policy-system.svc:443/validate';
const SA_USER = 'system:serviceaccount:tenant:caller';
const DEFAULT_USER = 'system:serviceaccount:kube-system:webhook-auth';

async function refusal(promise: Promise<string>): Promise<KubernetesStatusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KubernetesStatusError);
  return error as KubernetesStatusError;
}

describe('mintWebhookToken issuance (KEP-6060, Kubernetes 1.37 rules)', () => {
  let now = Date.parse('2026-12-01T10:00:00Z');
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver({ tokenReviewCache: false, now: () => now });
  });
  afterAll(() => api.close());

  it('issues one audience, 600 s, the binding and one attested group to the default caller', async () => {
    const token = await api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups: ['apps'] });
    const { claims } = decodeJwt(token);
    expect(claims.aud).toEqual([AUDIENCE]);
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
    expect(claims.sub).toBe(DEFAULT_USER);
    expect(claims['kubernetes.io']).toMatchObject({
      attestations: { admissionReviewAPIGroups: ['apps'] },
      validatingwebhookconfiguration: {
        name: 'policy',
        uid: api.getObject('ValidatingWebhookConfiguration', '', 'policy')!.uid,
      },
    });
    expect((await api.reviewToken(token, [AUDIENCE])).ok).toBe(true);
    // A longer lifetime is shortened to 600 s, as TokenRequest does for webhook-bound tokens.
    const long = decodeJwt(
      await api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, expiresIn: 86400 }),
    );
    expect((long.claims.exp as number) - (long.claims.iat as number)).toBe(600);
  });

  it('422 with details.causes for a short lifetime, several audiences and attested groups, "" and a non-group', async () => {
    const several = await refusal(
      api.mintWebhookToken({
        webhook: WEBHOOK,
        audience: [AUDIENCE, 'https://other.example'] as never,
        expiresIn: 599,
        apiGroups: ['apps', 'batch'],
      }),
    );
    expect(several.code).toBe(422);
    expect(several.reason).toBe('Invalid');
    expect(several.message).toBe(
      'TokenRequest.authentication.k8s.io "" is invalid: [' +
        'spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes, ' +
        `spec.audiences: Invalid value: ["${AUDIENCE}","https://other.example"]: must be length 1 when bound to a webhook config, ` +
        'spec.attestations[admissionReviewAPIGroups]: Invalid value: ["apps","batch"]: must specify a single value]',
    );
    expect(several.status.details).toEqual({
      group: 'authentication.k8s.io',
      kind: 'TokenRequest',
      causes: [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 599: may not specify a duration less than 10 minutes',
          field: 'spec.expirationSeconds',
        },
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: ["${AUDIENCE}","https://other.example"]: must be length 1 when bound to a webhook config`,
          field: 'spec.audiences',
        },
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: ["apps","batch"]: must specify a single value',
          field: 'spec.attestations[admissionReviewAPIGroups]',
        },
      ],
    });
    // The core group is attested only through '*' (kube-apiserver's own tokens).
    const core = await refusal(
      api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups: [''] }),
    );
    expect(core.message).toBe(
      'TokenRequest.authentication.k8s.io "" is invalid: spec.attestations[admissionReviewAPIGroups]: Invalid value: "": may not be an empty string',
    );
    const upper = await refusal(
      api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups: ['Apps'] }),
    );
    expect(upper.message).toContain(
      'spec.attestations[admissionReviewAPIGroups]: Invalid value: "Apps": must specify a valid API Group: a lowercase RFC 1123 subdomain',
    );
    expect(
      (await refusal(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups: [] }))).code,
    ).toBe(422);
  });

  it("400 for the apiserver's own audience", async () => {
    const own = await refusal(api.mintWebhookToken({ webhook: WEBHOOK, audience: api.apiAudiences[0]! }));
    expect(own.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'api server audiences are invalid for webhook token requests',
      reason: 'BadRequest',
      code: 400,
    });
  });

  it('needs attest on admissionReviewAPIGroups named after the group: 403 in RBAC wording, then a rule grants it', async () => {
    const ask = (group: string) =>
      api.mintWebhookToken({
        webhook: WEBHOOK,
        audience: AUDIENCE,
        apiGroups: [group],
        namespace: 'tenant',
        serviceAccount: 'caller',
      });
    const error = await refusal(ask('apps'));
    expect(error.code).toBe(403);
    expect(error.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `admissionReviewAPIGroups.authentication.k8s.io "apps" is forbidden: User "${SA_USER}" cannot attest resource "admissionReviewAPIGroups" in API group "authentication.k8s.io" at the cluster scope`,
      reason: 'Forbidden',
      details: { name: 'apps', group: 'authentication.k8s.io', kind: 'admissionReviewAPIGroups' },
      code: 403,
    });
    expect(error.message).toBe(error.status.message);

    api.allow({
      user: SA_USER,
      verb: 'attest',
      apiGroup: 'authentication.k8s.io',
      resource: 'admissionReviewAPIGroups',
      name: 'apps',
    });
    expect(decodeJwt(await ask('apps')).claims.sub).toBe(SA_USER);
    // The rule names one group: another one, or '*', is still refused.
    expect((await refusal(ask('batch'))).message).toContain('"batch" is forbidden');
    expect((await refusal(ask('*'))).code).toBe(403);

    // A deny rule takes the permission away, from the built-in caller too.
    api.deny({ user: DEFAULT_USER, verb: 'attest' });
    const denied = await refusal(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE }));
    expect(denied.message).toContain(`"*" is forbidden: User "${DEFAULT_USER}" cannot attest`);
    api.resetAuthorizer();
    await expect(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE })).resolves.toMatch(/^ey/);
  });

  it('attests a group only where a webhook of the configuration has it in its rules for that audience, unless "*"', async () => {
    const webhook = { kind: 'MutatingWebhookConfiguration', name: 'described' } as const;
    const service = { namespace: 'policy-system', name: 'policy', path: '/mutate' };
    api.createObject(webhook.kind, '', webhook.name, {
      webhooks: [
        { service, apiGroups: ['apps'] },
        { url: 'https://hooks.example/batch', apiGroups: ['batch', 'apps'] },
      ],
    });
    const mint = (audience: string | typeof service, group: string) =>
      api.mintWebhookToken({ webhook, audience, apiGroups: [group] });
    await expect(mint(service, 'apps')).resolves.toMatch(/^ey/);
    await expect(mint('https://policy.policy-system.svc:443/mutate', 'apps')).resolves.toMatch(/^ey/);
    await expect(mint('https://hooks.example/batch', 'batch')).resolves.toMatch(/^ey/);
    await expect(mint('https://anything.example', '*')).resolves.toMatch(/^ey/);
    // Group and audience must match the same webhook.
    for (const [audience, group] of [
      [service, 'batch'],
      ['https://hooks.example/batch', 'policy.example.com'],
      ['https://policy.policy-system.svc/mutate', 'apps'],
    ] as const) {
      const denied = await refusal(mint(audience, group));
      expect(denied.status).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'serviceaccounts/token "webhook-auth" is forbidden: token request denied',
        reason: 'Forbidden',
        details: { name: 'webhook-auth', kind: 'serviceaccounts/token' },
        code: 403,
      });
    }
    // A rule for every group ('*') covers any group.
    api.createObject(webhook.kind, '', webhook.name, {
      webhooks: [{ url: 'https://hooks.example/all', apiGroups: ['*'] }],
    });
    await expect(mint('https://hooks.example/all', 'policy.example.com')).resolves.toMatch(/^ey/);
    expect(() => api.createObject('Pod', 'default', 'p', { webhooks: [] })).toThrow(/webhook configuration/);
    expect(() =>
      api.createObject(webhook.kind, '', webhook.name, { webhooks: [{ apiGroups: ['apps'] }] }),
    ).toThrow(/url or a service/);
  });

  it('refuses a deleted configuration (403), one past its deletion timestamp, a deleted service account (404) and a stale uid (409)', async () => {
    const webhook = { kind: 'ValidatingWebhookConfiguration', name: 'short-lived' } as const;
    const first = await api.mintWebhookToken({ webhook, audience: AUDIENCE });
    api.deleteObject(webhook.kind, '', webhook.name);
    expect((await api.reviewToken(first, [AUDIENCE])).ok).toBe(false);
    const gone = await refusal(api.mintWebhookToken({ webhook, audience: AUDIENCE }));
    expect(gone.code).toBe(403);
    expect(gone.message).toBe('serviceaccounts/token "webhook-auth" is forbidden: token request denied');

    const { uid } = api.createObject(webhook.kind, '', webhook.name);
    const again = decodeJwt(await api.mintWebhookToken({ webhook, audience: AUDIENCE })).claims[
      'kubernetes.io'
    ];
    expect(again).toMatchObject({ validatingwebhookconfiguration: { name: 'short-lived', uid } });
    const stale = await refusal(
      api.mintWebhookToken({ webhook: { ...webhook, uid: 'old-uid' }, audience: AUDIENCE }),
    );
    expect(stale.status).toMatchObject({
      code: 409,
      reason: 'Conflict',
      message: `Operation cannot be fulfilled on ValidatingWebhookConfiguration.admissionregistration.k8s.io "short-lived": the UID in the bound object reference (old-uid) does not match the UID in record. The object might have been deleted and then recreated`,
    });

    // A graceful deletion: still issued at its timestamp, refused once the kit's clock is past it.
    api.deleteObject(webhook.kind, '', webhook.name, { pending: true });
    await expect(api.mintWebhookToken({ webhook, audience: AUDIENCE })).resolves.toMatch(/^ey/);
    now += 1000;
    expect((await refusal(api.mintWebhookToken({ webhook, audience: AUDIENCE }))).code).toBe(403);

    api.deleteObject('ServiceAccount', 'kube-system', 'webhook-auth');
    const noSa = await refusal(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE }));
    expect(noSa.status).toMatchObject({
      code: 404,
      message: 'serviceaccounts "webhook-auth" not found',
      details: { name: 'webhook-auth', kind: 'serviceaccounts' },
    });
    api.createObject('ServiceAccount', 'kube-system', 'webhook-auth');
    await expect(api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE })).resolves.toMatch(/^ey/);
  });

  it('mintToken stays a forging tool: it builds the tokens issuance refuses', async () => {
    const forged = await api.mintToken({
      audiences: [api.issuer, AUDIENCE],
      expiresIn: 3600,
      boundObject: { kind: 'ValidatingWebhookConfiguration', name: 'never-issued' },
      attestations: { admissionReviewAPIGroups: ['', 'apps'] },
    });
    const { claims } = decodeJwt(forged);
    expect(claims.aud).toEqual([api.issuer, AUDIENCE]);
    expect((claims['kubernetes.io'] as Record<string, unknown>).attestations).toEqual({
      admissionReviewAPIGroups: ['', 'apps'],
    });
  });
});
