import { type ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { call, decodeJwt } from './helpers.js';

describe('TokenRequest (POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token)', () => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver({ now: () => now });
    api.createObject('ServiceAccount', 'demo', 'webhook-client');
  });
  afterAll(() => api.close());

  const path = (ns: string, name: string) => `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`;

  it('mints like kubectl create token: default audience and lifetime, echoed defaulted spec', async () => {
    const res = await call(api, path('demo', 'webhook-client'), {
      token: api.reviewer.token,
      body: { spec: {} },
    });
    expect(res.status).toBe(201);
    const body = res.json() as {
      spec: Record<string, unknown>;
      status: { token: string; expirationTimestamp: string };
    };
    expect(body.spec).toEqual({ audiences: [api.issuer], expirationSeconds: 3600, boundObjectRef: null });
    const { claims } = decodeJwt(body.status.token);
    expect(claims).toMatchObject({
      aud: [api.issuer],
      iat: now / 1000,
      exp: now / 1000 + 3600,
      sub: 'system:serviceaccount:demo:webhook-client',
    });
    expect(body.status.expirationTimestamp).toBe('2026-11-23T13:00:00Z');
    expect(api.reviewToken(body.status.token).ok).toBe(true);
    expect(api.calls('tokenrequests')).toBe(1);
  });

  it('binds by group and kind as kube-apiserver does (the version is not looked at); other kinds get the "/v1, Kind=" refusal', async () => {
    api.createObject('Pod', 'demo', 'versionless');
    const bind = (boundObjectRef: Record<string, string>) =>
      call(api, path('demo', 'webhook-client'), {
        token: api.reviewer.token,
        body: { spec: { audiences: ['https://webhook.example'], boundObjectRef } },
      });
    for (const apiVersion of ['v1', 'v2', '']) {
      const res = await bind({ kind: 'Pod', ...(apiVersion ? { apiVersion } : {}), name: 'versionless' });
      expect(res.status, apiVersion).toBe(201);
    }
    const refusals: Array<[Record<string, string>, string]> = [
      [{ kind: 'ConfigMap', apiVersion: 'v1', name: 'x' }, '/v1, Kind=ConfigMap'],
      [{ kind: 'Pod', apiVersion: 'apps/v1', name: 'versionless' }, 'apps/v1, Kind=Pod'],
      [{ kind: 'ConfigMap', name: 'x' }, '/, Kind=ConfigMap'],
      [
        { kind: 'ValidatingWebhookConfiguration', apiVersion: 'admissionregistration.k8s.io/v1', name: 'x' },
        'admissionregistration.k8s.io/v1, Kind=ValidatingWebhookConfiguration',
      ],
    ];
    for (const [ref, gvk] of refusals) {
      const res = await bind(ref);
      expect(res.status).toBe(400);
      expect((res.json() as { message: string }).message).toBe(`cannot bind token to object of type ${gvk}`);
    }
  });

  it('through @kubernetes/client-node, with audiences and a bound pod', async () => {
    api.createObject('Pod', 'demo', 'p1');
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const result = await core.createNamespacedServiceAccountToken({
      name: 'webhook-client',
      namespace: 'demo',
      body: {
        spec: {
          audiences: ['https://webhook.example'],
          expirationSeconds: 600,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1' },
        },
      },
    });
    const token = result.status?.token ?? '';
    expect(decodeJwt(token).claims['kubernetes.io']).toMatchObject({
      pod: { name: 'p1', uid: api.getObject('Pod', 'demo', 'p1')!.uid },
    });
    expect(api.reviewToken(token, ['https://webhook.example']).ok).toBe(true);
  });

  it('refuses like the apiserver: unknown service account or object, UID conflict, short lifetime, no permission', async () => {
    const post = (p: string, body: unknown, token = api.reviewer.token) => call(api, p, { token, body });
    expect((await post(path('demo', 'ghost'), { spec: {} })).json()).toMatchObject({
      code: 404,
      message: 'serviceaccounts "ghost" not found',
    });
    expect(
      (
        await post(path('demo', 'webhook-client'), {
          spec: { boundObjectRef: { kind: 'Pod', name: 'nope' } },
        })
      ).json(),
    ).toMatchObject({
      code: 404,
      message: 'pods "nope" not found',
    });
    api.createObject('Pod', 'demo', 'p2');
    expect(
      (
        await post(path('demo', 'webhook-client'), {
          spec: { boundObjectRef: { kind: 'Pod', name: 'p2', uid: 'old' } },
        })
      ).status,
    ).toBe(409);
    expect(
      (await post(path('demo', 'webhook-client'), { spec: { expirationSeconds: 599 } })).json(),
    ).toMatchObject({
      code: 422,
      message:
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes',
    });
    const user = await api.addUser({ name: 'someone' });
    const forbidden = await post(path('demo', 'webhook-client'), { spec: {} }, user.token);
    expect(forbidden.status).toBe(403);
    const kc = new KubeConfig();
    kc.loadFromFile(user.kubeconfigPath);
    const error = await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccountToken({
        name: 'webhook-client',
        namespace: 'demo',
        body: { spec: { audiences: [] } },
      })
      .catch((e: unknown) => e);
    expect((error as ApiException<string>).code).toBe(403);
    api.setFault('tokenrequests', { status: 500, times: 1 });
    expect((await post(path('demo', 'webhook-client'), { spec: {} })).status).toBe(500);
  });
});
