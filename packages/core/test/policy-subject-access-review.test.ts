/**
 * `policy.subjectAccessReview` end to end: the real `@kubernetes/client-node` sends
 * SubjectAccessReviews over HTTPS to the testing kit, whose rules the tests set; the kit's
 * counters prove caching and coalescing.
 */
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiserverTokenConfigError,
  type ApiserverTokenVerifier,
  createVerifier,
  type SubjectAccessReviewOptions,
  type VerifierOptions,
} from '../src/index.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const DEPLOYMENTS = { verb: 'get', group: 'apps', resource: 'deployments', namespace: 'prod' };
let api: TestApiserver;
const verifiers: ApiserverTokenVerifier[] = [];
const clock = { ms: Date.now() };

beforeAll(async () => {
  api = await startTestApiserver();
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  api.clearFaults();
  api.resetCalls();
  api.resetAuthorizer();
  clock.ms = Date.now();
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
});

function verifier(
  subjectAccessReview: SubjectAccessReviewOptions = { resourceAttributes: DEPLOYMENTS },
  options: Partial<VerifierOptions> = {},
): ApiserverTokenVerifier {
  const created = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    kubeconfig: api.kubeconfigPath,
    inCluster: false,
    env: {},
    now: () => clock.ms,
    policy: { subjectAccessReview },
    ...options,
  });
  verifiers.push(created);
  return created;
}

let serial = 0;
// Without `jti`: a 1.29+ token's credential-id extra is part of the reviewed identity, so two tokens
// of one service account would be two SubjectAccessReviews; these tests are about one identity.
const token = (serviceAccount = `sa-${serial++}`, namespace = 'ci') =>
  api.mintToken({ namespace, serviceAccount, audiences: [AUDIENCE], jti: false });

async function outcome(v: ApiserverTokenVerifier, bearer: string): Promise<string> {
  try {
    await v.verify({ headers: { authorization: `Bearer ${bearer}` } });
    return 'allowed';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('SubjectAccessReview', () => {
  it('asks about the verified identity and the configured attributes; allowed and denied', async () => {
    api.allow({
      user: 'system:serviceaccount:ci:deployer',
      verb: 'get',
      apiGroup: 'apps',
      resource: 'deployments',
    });
    const v = verifier();
    expect(await outcome(v, await token('deployer'))).toBe('allowed');
    const [review] = api.requests('subjectaccessreviews');
    expect(review?.body).toMatchObject({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'system:serviceaccount:ci:deployer',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'],
        resourceAttributes: DEPLOYMENTS,
      },
    });
    expect(await outcome(v, await token('intruder'))).toBe('forbidden');
    // An explicit deny rule wins over an allow rule in the kit, as in a real authorizer chain.
    api.deny({ user: 'system:serviceaccount:ci:deployer', verb: '*' });
    expect(await outcome(verifier(), await token('deployer'))).toBe('forbidden');
  });

  it('nonResourceAttributes and attributes computed per request', async () => {
    api.allow({ group: 'system:serviceaccounts:ci', verb: 'get', path: '/metrics' });
    const nonResource = verifier({ nonResourceAttributes: { path: '/metrics', verb: 'get' } });
    expect(await outcome(nonResource, await token())).toBe('allowed');
    expect(await outcome(nonResource, await token('x', 'other'))).toBe('forbidden');

    api.allow({ user: '*', verb: 'update', apiGroup: 'apps', resource: 'deployments', namespace: 'team-a' });
    const computed = verifier({
      attributes: (identity) => ({
        resourceAttributes: {
          verb: 'update',
          group: 'apps',
          resource: 'deployments',
          namespace: identity.serviceAccount?.namespace ?? '',
        },
      }),
    });
    expect(await outcome(computed, await token('x', 'team-a'))).toBe('allowed');
    expect(await outcome(computed, await token('x', 'team-b'))).toBe('forbidden');
    // A computed value that is not valid attributes is a bug: 503, never an accept, no review sent.
    const broken = verifier({ attributes: () => ({ resourceAttributes: { verb: 'get' } }) as never });
    const before = api.calls('subjectaccessreviews');
    expect(await outcome(broken, await token())).toBe('apiserver_unavailable');
    expect(api.calls('subjectaccessreviews')).toBe(before);
  });

  it('caches allowed decisions for 5 minutes and denied ones for 30 s, per identity and attributes', async () => {
    api.allow({
      user: 'system:serviceaccount:ci:cached',
      verb: 'get',
      apiGroup: 'apps',
      resource: 'deployments',
    });
    const v = verifier();
    const allowed = await token('cached');
    const denied = await token('refused');
    expect(await outcome(v, allowed)).toBe('allowed');
    expect(await outcome(v, denied)).toBe('forbidden');
    expect(api.calls('subjectaccessreviews')).toBe(2);
    // A new token of the same service account is the same identity: no new review.
    expect(await outcome(v, await token('cached'))).toBe('allowed');
    expect(await outcome(v, denied)).toBe('forbidden');
    expect(api.calls('subjectaccessreviews')).toBe(2);

    api.allow({
      user: 'system:serviceaccount:ci:refused',
      verb: 'get',
      apiGroup: 'apps',
      resource: 'deployments',
    });
    clock.ms += 29_000;
    expect(await outcome(v, denied)).toBe('forbidden');
    expect(api.calls('subjectaccessreviews')).toBe(2);
    clock.ms += 2_000;
    // The denial expired and the apiserver now allows.
    expect(await outcome(v, denied)).toBe('allowed');
    expect(api.calls('subjectaccessreviews')).toBe(3);

    api.resetAuthorizer();
    clock.ms += 250_000;
    expect(await outcome(v, allowed)).toBe('allowed');
    expect(api.calls('subjectaccessreviews')).toBe(3);
    clock.ms += 20_000;
    // Past 5 minutes since the allow: asked again, and the rule is gone.
    expect(await outcome(v, allowed)).toBe('forbidden');
    expect(api.calls('subjectaccessreviews')).toBe(4);
  });

  it('coalesces concurrent identical reviews into one call', async () => {
    api.allow({
      user: 'system:serviceaccount:ci:busy',
      verb: 'get',
      apiGroup: 'apps',
      resource: 'deployments',
    });
    api.setFault('subjectaccessreviews', { latencyMs: 200 });
    const v = verifier();
    const bearers = await Promise.all(Array.from({ length: 5 }, () => token('busy')));
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => outcome(v, bearers[i % 5] as string)),
    );
    expect(new Set(results)).toEqual(new Set(['allowed']));
    expect(api.calls('subjectaccessreviews')).toBe(1);
  });

  it('apiserver down: 503 apiserver_unavailable, never an accept, never cached', async () => {
    api.allow({ user: '*', verb: 'get', apiGroup: 'apps', resource: 'deployments' });
    const v = verifier({ resourceAttributes: DEPLOYMENTS, retries: 1 });
    const bearer = await token();
    api.setFault('subjectaccessreviews', { down: true });
    expect(await outcome(v, bearer)).toBe('apiserver_unavailable');
    api.setFault('subjectaccessreviews', { status: 500 });
    const failure = await v
      .verify({ headers: { authorization: `Bearer ${bearer}` } })
      .catch((error) => error);
    expect(failure).toMatchObject({ code: 'apiserver_unavailable', status: 503 });
    expect(failure.headers['retry-after']).toMatch(/^\d+$/);
    api.clearFaults();
    expect(await outcome(v, bearer)).toBe('allowed');

    // A transient 503 is retried within the same request.
    const other = await token();
    api.resetCalls();
    api.setFault('subjectaccessreviews', { status: 503, times: 1 });
    expect(await outcome(v, other)).toBe('allowed');
    expect(api.calls('subjectaccessreviews')).toBe(2);
  });

  it('our credentials refused (no permission to create SubjectAccessReviews): 503, not retried', async () => {
    const weak = await api.addUser({ name: 'no-review-rights' });
    api.allow({ user: '*', verb: 'get', apiGroup: 'apps', resource: 'deployments' });
    const v = verifier(undefined, { kubeconfig: weak.kubeconfigPath });
    api.resetCalls();
    expect(await outcome(v, await token())).toBe('apiserver_unavailable');
    expect(api.calls('subjectaccessreviews')).toBe(1);
  });

  it('configuration errors name the field', () => {
    const error = (sar: unknown, options: Partial<VerifierOptions> = {}) => {
      try {
        verifier(sar as SubjectAccessReviewOptions, options);
      } catch (caught) {
        expect(caught).toBeInstanceOf(ApiserverTokenConfigError);
        return (caught as ApiserverTokenConfigError).field;
      }
      throw new Error('expected a configuration error');
    };
    expect(error({ resourceAttributes: DEPLOYMENTS }, { kubeconfig: undefined })).toBe(
      'policy.subjectAccessReview',
    );
    expect(error({})).toBe('policy.subjectAccessReview');
    expect(
      error({ resourceAttributes: DEPLOYMENTS, nonResourceAttributes: { path: '/x', verb: 'get' } }),
    ).toBe('policy.subjectAccessReview');
    expect(error({ resourceAttributes: { resource: 'pods' } })).toBe(
      'policy.subjectAccessReview.resourceAttributes.verb',
    );
    expect(error({ resourceAttributes: { verb: 'get', resource: 'pods', namespaces: 'x' } })).toBe(
      'policy.subjectAccessReview.resourceAttributes.namespaces',
    );
    expect(error({ nonResourceAttributes: { path: 'metrics', verb: 'get' } })).toBe(
      'policy.subjectAccessReview.nonResourceAttributes.path',
    );
    expect(error({ resourceAttributes: DEPLOYMENTS, allowedTtl: -1 })).toBe(
      'policy.subjectAccessReview.allowedTtl',
    );
    expect(error({ attributes: 'x' })).toBe('policy.subjectAccessReview.attributes');
    // In a pod (service host set and its token file present) the in-cluster credentials count.
    expect(
      error(
        { resourceAttributes: DEPLOYMENTS },
        { kubeconfig: undefined, env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } },
      ),
    ).toBe('policy.subjectAccessReview');
  });
});
