/**
 * The example webhook in KEP-6060 mode (`admission: { boundTo }`), over HTTPS against the testing
 * kit: webhook tokens bound to a webhook configuration and attested for API groups, as
 * kube-apiserver 1.37+ issues them.
 */
import { webhookAudience } from '@apiserver-token/core';
import {
  admissionReview,
  type IssuedCertificate,
  startTestApiserver,
  type TestApiserver,
} from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentReview, sendAdmissionReview } from '../send-review.mjs';
import { startServer } from '../webhook.mjs';

// clientConfig.service { name: my-webhook, namespace: my-ns, path: /validate }, port 443 by default.
const SERVICE = { name: 'my-webhook', namespace: 'my-ns', path: '/validate' };
const AUDIENCE = webhookAudience({ service: SERVICE });
const WEBHOOK = { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' } as const;

type Webhook = Awaited<ReturnType<typeof startServer>>;
type Event = Record<string, unknown>;

let api: TestApiserver;
let tls: IssuedCertificate;
let webhook: Webhook;
const events: Event[] = [];

beforeAll(async () => {
  api = await startTestApiserver();
  tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  webhook = await startServer({
    tls,
    host: '127.0.0.1',
    port: 0,
    auth: { audience: AUDIENCE, issuer: api.issuer, jwks: { ca: api.ca }, inCluster: false, env: {} },
    admission: { boundTo: WEBHOOK },
    log: (event: Event) => events.push(event),
  });
});
afterAll(async () => {
  await webhook?.close();
  await api?.close();
});

const secretReview = (uid: string) =>
  admissionReview({
    uid,
    kind: { version: 'v1', kind: 'Secret' },
    resource: { version: 'v1', resource: 'secrets' },
    namespace: 'default',
    name: 'db-password',
    object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: 'default' } },
  });

const mint = (apiGroups: string[], extra: Partial<Parameters<TestApiserver['mintWebhookToken']>[0]> = {}) =>
  api.mintWebhookToken({ webhook: WEBHOOK, audience: SERVICE, apiGroups, ...extra });

const send = async (token: string, review: unknown) => {
  const before = events.length;
  const res = await sendAdmissionReview({ url: `${webhook.url}/validate`, ca: tls.ca, token, review });
  return { ...res, logged: events.slice(before) };
};

describe('express-admission-webhook with KEP-6060 webhook tokens over HTTPS', () => {
  it('a token attesting ["apps"] used for a Secret AdmissionReview is denied, uid echoed', async () => {
    const res = await send(await mint(['apps']), secretReview('uid-secret'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'uid-secret',
        allowed: false,
        status: {
          status: 'Failure',
          code: 403,
          reason: 'Forbidden',
          message: 'apiserver-token: the token is not attested for this request (attestation_mismatch)',
        },
      },
    });
    expect(res.logged).toEqual([
      expect.objectContaining({ event: 'rejected', code: 'attestation_mismatch', uid: 'uid-secret' }),
    ]);
  });

  it('the same ["apps"] token is accepted for a Deployment, then the policy decides', async () => {
    const token = await mint(['apps']);
    const labelled = await send(token, deploymentReview({ uid: 'uid-apps', labels: { team: 'web' } }));
    expect(labelled.body.response).toEqual({ uid: 'uid-apps', allowed: true });
    const unlabelled = await send(token, deploymentReview({ uid: 'uid-policy' }));
    expect(unlabelled.body.response).toMatchObject({
      uid: 'uid-policy',
      allowed: false,
      status: { code: 403 },
    });
  });

  it('deployments/scale (an autoscaling/v1 Scale object) is covered by ["apps"]: the resource group counts', async () => {
    const scale = admissionReview({
      uid: 'uid-scale',
      operation: 'UPDATE',
      kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      subResource: 'scale',
      namespace: 'default',
      name: 'web',
      object: {
        apiVersion: 'autoscaling/v1',
        kind: 'Scale',
        metadata: { name: 'web' },
        spec: { replicas: 3 },
      },
    });
    expect((await send(await mint(['apps']), scale)).body.response).toEqual({
      uid: 'uid-scale',
      allowed: true,
    });
    expect((await send(await mint(['autoscaling']), scale)).body.response).toMatchObject({ allowed: false });
  });

  it('a token attesting ["*"] is accepted for the Secret', async () => {
    const res = await send(await mint(['*']), secretReview('uid-star'));
    expect(res.body.response).toEqual({ uid: 'uid-star', allowed: true });
    expect(res.logged).toEqual([
      expect.objectContaining({
        event: 'reviewed',
        caller: 'system:serviceaccount:kube-system:webhook-auth',
        kind: 'Secret',
        allowed: true,
      }),
    ]);
  });

  it("a token bound to another webhook's audience is denied", async () => {
    const other = await api.mintWebhookToken({
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'other-webhook' },
      audience: { name: 'other-webhook', namespace: 'other-ns', path: '/validate' },
      apiGroups: ['*'],
    });
    const res = await send(other, secretReview('uid-other'));
    expect(res.body.response).toMatchObject({ uid: 'uid-other', allowed: false, status: { code: 401 } });
    expect(res.logged).toEqual([expect.objectContaining({ code: 'audience_mismatch' })]);
  });

  it('a token for our audience but bound to another webhook configuration is denied', async () => {
    const res = await send(
      await mint(['*'], { webhook: { kind: 'ValidatingWebhookConfiguration', name: 'other-webhook' } }),
      secretReview('uid-bound'),
    );
    expect(res.body.response).toMatchObject({ uid: 'uid-bound', allowed: false, status: { code: 403 } });
  });
});
