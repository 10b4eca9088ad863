import {
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  KubeConfig,
  type V1TokenReview,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { decodeJwt } from './helpers.js';

// The real @kubernetes/client-node 1.x talking to the kit over HTTPS through its kubeconfig.

describe('@kubernetes/client-node against the kit', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());

  function clients(path: string) {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return { authn: kc.makeApiClient(AuthenticationV1Api), authz: kc.makeApiClient(AuthorizationV1Api), kc };
  }

  it('loads the kubeconfig: server, CA data and reviewer token', () => {
    const { kc } = clients(api.kubeconfigPath);
    expect(kc.getCurrentCluster()?.server).toBe(api.url);
    expect(Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64').toString()).toBe(api.ca);
    expect(kc.getCurrentUser()?.token).toBe(api.reviewer.token);
  });

  it('createTokenReview({ body }) authenticates a kit token and reports pod-bound extras', async () => {
    const { authn } = clients(api.kubeconfigPath);
    const token = await api.mintToken({
      namespace: 'demo',
      serviceAccount: 'webhook-client',
      audiences: ['https://webhook.example'],
      boundObject: { kind: 'Pod', name: 'p1' },
    });
    const body: V1TokenReview = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: ['https://webhook.example'] },
    };
    const review = await authn.createTokenReview({ body });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.audiences).toEqual(['https://webhook.example']);
    expect(review.status?.user?.username).toBe('system:serviceaccount:demo:webhook-client');
    expect(review.status?.user?.groups).toEqual([
      'system:serviceaccounts',
      'system:serviceaccounts:demo',
      'system:authenticated',
    ]);
    expect(review.status?.user?.extra).toEqual({
      'authentication.kubernetes.io/credential-id': [`JTI=${decodeJwt(token).claims.jti}`],
      'authentication.kubernetes.io/pod-name': ['p1'],
      'authentication.kubernetes.io/pod-uid': [api.getObject('Pod', 'demo', 'p1')!.uid],
    });
    expect(api.calls('tokenreviews')).toBeGreaterThanOrEqual(1);
  });

  it('a rejected token comes back with authenticated absent and the real error string', async () => {
    const { authn } = clients(api.kubeconfigPath);
    const token = await api.mintToken({ audiences: ['https://webhook.example'] });
    const review = await authn.createTokenReview({
      body: { spec: { token, audiences: ['https://other.example'] } },
    });
    expect(review.status?.authenticated).toBeUndefined();
    expect(review.status?.error).toBe(
      '[invalid bearer token, token audiences ["https://webhook.example"] is invalid for the target audiences ["https://other.example"]]',
    );
  });

  it('a caller without permission gets ApiException 403 with the Status body', async () => {
    const user = await api.addUser({ name: 'no-delegation' });
    const { authn } = clients(user.kubeconfigPath);
    const error = await authn.createTokenReview({ body: { spec: { token: 'x' } } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<string>).code).toBe(403);
    expect(JSON.parse((error as ApiException<string>).body)).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      details: { group: 'authentication.k8s.io', kind: 'tokenreviews' },
    });
  });

  it('createSubjectAccessReview follows the rules the test sets', async () => {
    const { authz } = clients(api.kubeconfigPath);
    api.allow({
      user: 'alice',
      verb: ['get', 'list'],
      apiGroup: 'apps',
      resource: 'deployments',
      namespace: 'prod',
    });
    const ask = (verb: string, namespace: string) =>
      authz.createSubjectAccessReview({
        body: {
          spec: {
            user: 'alice',
            groups: ['devs'],
            resourceAttributes: { verb, group: 'apps', resource: 'deployments', namespace },
          },
        },
      });
    expect((await ask('get', 'prod')).status).toEqual({
      allowed: true,
      reason:
        'RBAC: allowed by RoleBinding "apiserver-token-testing:allow-0/prod" of Role "apiserver-token-testing:allow-0" to User "alice"',
    });
    expect((await ask('delete', 'prod')).status).toEqual({ allowed: false });
    expect((await ask('get', 'dev')).status).toEqual({ allowed: false });
    api.resetAuthorizer();
  });

  it('a client certificate issued by the kit authenticates through a kubeconfig (mTLS)', async () => {
    const cert = await api.issueClientCertificate({
      commonName: 'cert-reviewer',
      organizations: ['reviewers'],
    });
    api.grantReview({ group: 'reviewers' });
    const path = await api.writeKubeconfig({ name: 'cert-reviewer', clientCertificate: cert });
    const { authn } = clients(path);
    const token = await api.mintToken({ audiences: ['a'] });
    const review = await authn.createTokenReview({ body: { spec: { token, audiences: ['a'] } } });
    expect(review.status?.authenticated).toBe(true);
    expect(api.requests('tokenreviews').at(-1)?.user).toBe('cert-reviewer');
  });

  it('surfaces injected faults as errors the client sees', async () => {
    const { authn } = clients(api.kubeconfigPath);
    api.setFault('tokenreviews', { status: 503, times: 1 });
    const error = await authn.createTokenReview({ body: { spec: { token: 'x' } } }).catch((e: unknown) => e);
    expect((error as ApiException<string>).code).toBe(503);
    api.setFault('tokenreviews', { down: true, times: 1 });
    await expect(authn.createTokenReview({ body: { spec: { token: 'x' } } })).rejects.toThrow();
    const review = await authn.createTokenReview({ body: { spec: { token: 'x' } } });
    expect(review.status?.error).toBe('invalid bearer token');
  });
});
