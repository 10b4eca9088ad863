import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { call } from './helpers.js';

describe('SubjectAccessReview', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());
  afterEach(() => {
    api.resetAuthorizer();
    api.clearFaults();
  });

  const sar = (spec: Record<string, unknown>, token = api.reviewer.token) =>
    call(api, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      token,
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
    });
  const webhookAuth = {
    user: 'system:serviceaccount:kube-system:webhook-auth',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
  };

  it('answers in the real shape: 201, spec echoed, status.allowed', async () => {
    api.allow({
      group: 'system:serviceaccounts:kube-system',
      verb: 'create',
      apiGroup: 'admission.k8s.io',
      resource: 'admissionreviews',
    });
    const spec = {
      ...webhookAuth,
      resourceAttributes: { verb: 'create', group: 'admission.k8s.io', resource: 'admissionreviews' },
    };
    const res = await sar(spec);
    expect(res.status).toBe(201);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['kind', 'apiVersion', 'metadata', 'spec', 'status']);
    // 1.36 writes no `creationTimestamp: null` any more: only the managedFields entry.
    expect(Object.keys(body.metadata as object)).toEqual(['managedFields']);
    expect(body).toMatchObject({
      kind: 'SubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      spec,
      status: {
        allowed: true,
        reason:
          'RBAC: allowed by ClusterRoleBinding "apiserver-token-testing:allow-0" of ClusterRole "apiserver-token-testing:allow-0" to Group "system:serviceaccounts:kube-system"',
      },
    });
    const other = await sar({ ...spec, resourceAttributes: { ...spec.resourceAttributes, verb: 'delete' } });
    expect((other.json() as { status: unknown }).status).toEqual({ allowed: false });
  });

  it('matches namespace, name, subresource, wildcards and non-resource paths; deny wins', async () => {
    api.allow({
      user: 'bob',
      verb: '*',
      apiGroup: '',
      resource: 'pods',
      subresource: 'log',
      namespace: 'team-a',
    });
    api.allow({ user: 'bob', verb: 'get', path: '/healthz*' });
    api.allow({ user: '*', verb: 'get', apiGroup: '*', resource: 'configmaps', name: 'public' });
    api.deny({ group: 'banned', verb: '*', apiGroup: '*', resource: '*' });
    const status = async (spec: Record<string, unknown>) =>
      ((await sar(spec)).json() as { status: Record<string, unknown> }).status;
    const pods = (extra: Record<string, unknown>) => ({
      user: 'bob',
      resourceAttributes: {
        verb: 'get',
        group: '',
        resource: 'pods',
        subresource: 'log',
        namespace: 'team-a',
        ...extra,
      },
    });
    expect((await status(pods({}))).allowed).toBe(true);
    expect((await status(pods({ namespace: 'team-b' }))).allowed).toBe(false);
    expect((await status(pods({ subresource: 'exec' }))).allowed).toBe(false);
    expect(
      (await status({ user: 'bob', nonResourceAttributes: { verb: 'get', path: '/healthz/etcd' } })).allowed,
    ).toBe(true);
    expect(
      (await status({ user: 'bob', nonResourceAttributes: { verb: 'get', path: '/metrics' } })).allowed,
    ).toBe(false);
    expect(
      (
        await status({
          user: 'zed',
          resourceAttributes: { verb: 'get', resource: 'configmaps', name: 'public', namespace: 'x' },
        })
      ).allowed,
    ).toBe(true);
    expect(
      await status({
        user: 'zed',
        groups: ['banned'],
        resourceAttributes: { verb: 'get', resource: 'configmaps', name: 'public' },
      }),
    ).toEqual({
      allowed: false,
      denied: true,
      reason: 'denied by test rule deny[0]',
    });
  });

  it('setAuthorizer decides instead of the rules; a throw becomes evaluationError', async () => {
    const seen: unknown[] = [];
    api.setAuthorizer(async (attributes) => {
      seen.push(attributes);
      if (attributes.resource?.resource === 'secrets') throw new Error('policy engine down');
      return {
        allowed: attributes.user === 'carol',
        reason: 'custom',
        ...(attributes.user === 'mallory' ? { denied: true } : {}),
      };
    });
    const status = async (user: string, resource = 'pods') =>
      (
        (
          await sar({
            user,
            uid: 'u-1',
            extra: { scopes: ['a'] },
            resourceAttributes: { verb: 'list', group: '', version: 'v1', resource, namespace: 'ns' },
          })
        ).json() as { status: unknown }
      ).status;
    expect(await status('carol')).toEqual({ allowed: true, reason: 'custom' });
    expect(await status('mallory')).toEqual({ allowed: false, denied: true, reason: 'custom' });
    expect(await status('carol', 'secrets')).toEqual({
      allowed: false,
      evaluationError: 'policy engine down',
    });
    expect(seen[0]).toEqual({
      user: 'carol',
      groups: [],
      uid: 'u-1',
      extra: { scopes: ['a'] },
      resource: { verb: 'list', group: '', version: 'v1', resource: 'pods', namespace: 'ns' },
    });
  });

  it('validates like the apiserver (422) and requires permission (403)', async () => {
    const missing = await sar({ user: 'x' });
    expect(missing.status).toBe(422);
    expect((missing.json() as { message: string }).message).toContain(
      'exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
    const nobody = await sar({ resourceAttributes: { verb: 'get', resource: 'pods' } });
    expect(nobody.status).toBe(422);
    expect((nobody.json() as { message: string }).message).toContain(
      'at least one of user or group must be specified',
    );
    const plain = await api.addUser({ name: 'plain-user' });
    const forbidden = await sar(
      { user: 'x', resourceAttributes: { verb: 'get', resource: 'pods' } },
      plain.token,
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.json()).toMatchObject({
      message:
        'subjectaccessreviews.authorization.k8s.io is forbidden: User "plain-user" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope',
      details: { group: 'authorization.k8s.io', kind: 'subjectaccessreviews' },
    });
  });

  it('rejects rules without a subject or verb at the call site', () => {
    expect(() => api.allow({ verb: 'get' })).toThrow(/subject/);
    expect(() => api.allow({ user: 'a', verb: [] })).toThrow(/verb/);
    expect(() => api.deny({ user: 'a', verb: 'get', path: '/x', resource: 'pods' })).toThrow(/not both/);
  });

  it('counts calls and injects faults like TokenReview', async () => {
    api.resetCalls();
    api.setFault('subjectaccessreviews', { status: 429, retryAfter: 2, times: 1 });
    const spec = { user: 'a', resourceAttributes: { verb: 'get', resource: 'pods' } };
    const limited = await sar(spec);
    expect([limited.status, limited.headers['retry-after']]).toEqual([429, '2']);
    expect((await sar(spec)).status).toBe(201);
    api.setFault('subjectaccessreviews', { latencyMs: 150, status: 502 });
    const started = performance.now();
    expect((await sar(spec)).status).toBe(502);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(api.calls('subjectaccessreviews')).toBe(3);
  });
});
