import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { call, decodeJwt, fixtureJson, shapeOf } from './helpers.js';

// Every TokenReview recorded from a real kube-apiserver v1.28.4, replayed against the kit with an
// equivalent token minted by the kit (same claims, the kit's key), the same object state and the
// kit's clock set to the time of the recording. The kit must answer exactly what was recorded
// (status, metadata), the token in spec aside.

interface CaseFile {
  issuer: string;
  cases: Array<{ id: string; at: string; files: [string, string] }>;
}
interface Review {
  kind: string;
  apiVersion: string;
  metadata: Record<string, unknown>;
  spec: { token: string; audiences?: string[] };
  status: Record<string, unknown>;
}

const caseFile = fixtureJson<CaseFile>('cases.json');
const STATIC_ADMIN_TOKEN = '24a5c43c0e1432cb2ab5fb523542a945ec40814d82b776b5';
const WEBHOOK_CLIENT_UID = '55c8e47e-6b81-4f74-93af-700a4a0d235f';

const replay = [
  ...caseFile.cases.map((c) => ({ id: c.id, at: c.at, request: c.files[0], response: c.files[1] })),
  {
    id: 'webhook/tokenreview-of-received-token',
    at: '2026-11-23T16:36:35Z',
    request: 'webhook/tokenreview-of-received-token.request.json',
    response: 'webhook/tokenreview-of-received-token.response.json',
  },
].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));

/** What happened in the recorded cluster just before a case (deletions, re-creations). */
function stateChangesBefore(api: TestApiserver, id: string): void {
  switch (id) {
    case 'tokenreview/31-deleted-sa-after':
      api.deleteObject('ServiceAccount', 'demo', 'doomed');
      break;
    case 'tokenreview/32b-deleted-sa-recreated-11s':
      api.createObject('ServiceAccount', 'demo', 'doomed', { uid: '07656c2b-b7c6-484b-bcc2-82e5e0aa7f9a' });
      break;
    case 'pod-bound/03-pod-deleted-immediate':
      api.deleteObject('Pod', 'demo', 'p1');
      break;
    case 'pod-bound/05-pod-recreated-11s':
      api.createObject('Pod', 'demo', 'p1', { uid: 'db722a86-6abd-49e5-9f5d-985e30dd8f78' });
      break;
    case 'pod-bound/06-kubelet-style-3607s':
      api.createObject('Pod', 'demo', 'p1', { uid: 'a97e2352-573c-4233-a8a2-419c60926726' });
      break;
    case 'pod-bound/08-secret-bound-deleted':
      api.deleteObject('Secret', 'demo', 'bindme');
      break;
    case 'legacy-secret-token/04-legacy-secret-deleted':
      api.deleteObject('Secret', 'demo', 'webhook-client-legacy');
      break;
  }
}

describe('TokenReview replays every recorded kube-apiserver review', () => {
  let now = 0;
  let api: TestApiserver;
  const legacyTokens = new Map<string, string>();

  beforeAll(async () => {
    api = await startTestApiserver({
      issuer: caseFile.issuer,
      now: () => now,
      // The recordings include kube-apiserver's 10 s success cache (a deleted object's token still passes).
      tokenReviewCache: true,
      kubernetesVersion: '1.28',
    });
    await api.addUser({
      name: 'admin',
      uid: 'admin-uid',
      groups: ['system:masters'],
      token: STATIC_ADMIN_TOKEN,
    });
    api.createObject('ServiceAccount', 'demo', 'webhook-client', { uid: WEBHOOK_CLIENT_UID });
    api.createObject('ServiceAccount', 'demo', 'doomed', { uid: 'fa143388-70f8-4af2-a99b-d6caaea86a9e' });
    api.createObject('ServiceAccount', 'webhook-test', 'apiserver-webhook-caller', {
      uid: '2743bb7c-a9eb-4145-bf4c-378099b5797a',
    });
    api.createObject('Pod', 'demo', 'p1', { uid: '20bf01de-ceae-4872-b7ba-233ead1b5117' });
    api.createObject('Secret', 'demo', 'bindme', { uid: 'c8418f43-fc11-42ef-b376-70afed033472' });
  });
  afterAll(() => api.close());

  /** The kit's counterpart of a recorded token. */
  async function equivalentToken(id: string, recorded: string): Promise<string> {
    if (recorded === STATIC_ADMIN_TOKEN || recorded.split('.').length !== 3 || recorded.startsWith('aaa.')) {
      return recorded; // opaque: garbage and the static token are sent as they are
    }
    const { claims } = decodeJwt(recorded);
    if (claims.iss === 'kubernetes/serviceaccount') {
      let token = legacyTokens.get(recorded);
      if (!token) {
        token = await api.mintLegacyToken({
          namespace: claims['kubernetes.io/serviceaccount/namespace'] as string,
          serviceAccount: claims['kubernetes.io/serviceaccount/service-account.name'] as string,
          secretName: claims['kubernetes.io/serviceaccount/secret.name'] as string,
        });
        legacyTokens.set(recorded, token);
      }
      return token;
    }
    const k8s = claims['kubernetes.io'] as {
      namespace: string;
      serviceaccount: { name: string; uid: string };
    };
    return api.mintToken({
      namespace: k8s.namespace,
      serviceAccount: k8s.serviceaccount.name,
      serviceAccountUid: k8s.serviceaccount.uid,
      claims,
      ...(id.includes('foreign-key') ? { signWith: 'foreign' as const } : {}),
      ...(id.endsWith('foreign-key-real-kid') ? { kid: api.keys()[0]!.kid } : {}),
      ...(id.includes('tampered') ? { tamper: 'signature' as const } : {}),
    });
  }

  it('covers every recorded review', () => {
    expect(replay.length).toBe(caseFile.cases.length + 1);
    expect(replay.length).toBe(42);
  });

  it.each(replay.map((r) => [r.id, r] as const))('%s', async (id, r) => {
    const request = fixtureJson<{ spec: { token: string; audiences?: string[] } }>(r.request);
    const recorded = fixtureJson<Review>(r.response);
    now = Date.parse(r.at);
    stateChangesBefore(api, id);
    const token = await equivalentToken(id, request.spec.token);
    if (id.includes('foreign-key'))
      expect(decodeJwt(token).header.kid === api.keys()[0]!.kid).toBe(id.endsWith('real-kid'));

    const res = await call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
      token: api.reviewer.token,
      body: { ...request, spec: { ...request.spec, token } },
      headers: { 'user-agent': 'curl/8.5.0' },
    });
    expect(res.status).toBe(201);
    const review = res.json() as Review;
    expect(Object.keys(review)).toEqual(Object.keys(recorded));
    expect(review.kind).toBe(recorded.kind);
    expect(review.apiVersion).toBe(recorded.apiVersion);
    expect(review.metadata).toEqual(recorded.metadata);
    expect(Object.keys(review.spec)).toEqual(Object.keys(recorded.spec));
    expect(review.spec.audiences).toEqual(recorded.spec.audiences);
    expect(review.spec.token).toBe(token);
    expect(shapeOf(review.status)).toEqual(shapeOf(recorded.status));
    expect(review.status).toEqual(recorded.status);
  });
});

describe('TokenReview callers', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());
  const review = (token: string | undefined, body: unknown = { spec: { token: 'x' } }) =>
    call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
      ...(token !== undefined ? { token } : {}),
      body,
    });

  it('a service account without system:auth-delegator gets the recorded 403 Status', async () => {
    const recorded = fixtureJson('tokenreviews/reviewer-without-permission.status.json');
    const reviewerToken = await api.mintToken({ namespace: 'demo', serviceAccount: 'reviewer' });
    const res = await review(reviewerToken);
    expect(res.status).toBe(403);
    expect(res.json()).toEqual(recorded);
    api.grantReview({ user: 'system:serviceaccount:demo:reviewer' });
    expect((await review(reviewerToken)).status).toBe(201);
    api.revokeReview({ user: 'system:serviceaccount:demo:reviewer' });
    expect((await review(reviewerToken)).status).toBe(403);
    api.grantReview({ group: 'system:serviceaccounts:demo' });
    expect((await review(reviewerToken)).status).toBe(201);
  });

  it('a static user without canReview gets 403; with it, 201', async () => {
    const plain = await api.addUser({ name: 'plain' });
    const res = await review(plain.token);
    expect(res.status).toBe(403);
    expect((res.json() as { message: string }).message).toContain(
      'User "plain" cannot create resource "tokenreviews"',
    );
    const allowed = await api.addUser({ name: 'delegator', canReview: true });
    expect((await review(allowed.token)).status).toBe(201);
  });

  it('invalid credentials get 401; no credentials are system:anonymous (403), or 401 without anonymous auth', async () => {
    const bad = await review('garbage');
    expect(bad.status).toBe(401);
    expect(bad.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    // A token for another audience is not a credential for the apiserver itself.
    expect((await review(await api.mintToken({ audiences: ['https://webhook.example'] }))).status).toBe(401);
    const anonymous = await review(undefined);
    expect(anonymous.status).toBe(403);
    expect((anonymous.json() as { message: string }).message).toContain(
      'User "system:anonymous" cannot create resource "tokenreviews"',
    );
    await using strict = await startTestApiserver({ anonymousAuth: false });
    expect(
      (await call(strict, '/apis/authentication.k8s.io/v1/tokenreviews', { body: { spec: { token: 'x' } } }))
        .status,
    ).toBe(401);
  });

  it('malformed reviews get 400, other methods 405', async () => {
    const token = api.reviewer.token;
    expect((await review(token, { spec: {} })).json()).toMatchObject({
      code: 400,
      message: 'token is required for TokenReview in authentication',
    });
    expect((await review(token, '{not json')).status).toBe(400);
    expect((await review(token, { kind: 'SubjectAccessReview', spec: { token: 'x' } })).status).toBe(400);
    expect((await review(token, { spec: { token: 'x', audiences: 'a' } })).status).toBe(400);
    const get = await call(api, '/apis/authentication.k8s.io/v1/tokenreviews', { token });
    expect(get.status).toBe(405);
  });
});

describe('server-side field validation (fieldValidation), as kubectl create -f relies on', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());
  const post = (query: string, body: unknown, path = '/apis/authentication.k8s.io/v1/tokenreviews') =>
    call(api, `${path}${query}`, { token: api.reviewer.token, body });
  const typo = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    metadata: { labels: { a: 'b' }, annotations: {} },
    spec: { token: 'x', audience: ['https://webhook.example'] },
    extra: true,
  };

  it('Strict refuses fields the type does not have (400, in body order)', async () => {
    const res = await post('?fieldManager=kubectl-create&fieldValidation=Strict', typo);
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'TokenReview in version "v1" cannot be handled as a TokenReview: strict decoding error: unknown field "spec.audience", unknown field "extra"',
      reason: 'BadRequest',
      code: 400,
    });
    const sar = await post(
      '?fieldValidation=Strict',
      { spec: { user: 'u', resourceAttributes: { verb: 'get', resource: 'pods', namespaces: 'x' } } },
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    );
    expect((sar.json() as { message: string }).message).toBe(
      'SubjectAccessReview in version "v1" cannot be handled as a SubjectAccessReview: strict decoding error: unknown field "spec.resourceAttributes.namespaces"',
    );
  });

  it('Warn (the default) answers with a Warning header per field; Ignore says nothing; known fields pass', async () => {
    const warned = await post('', typo);
    expect(warned.status).toBe(201);
    expect(warned.headers.warning).toBe(
      '299 - "unknown field \\"spec.audience\\"", 299 - "unknown field \\"extra\\""',
    );
    const ignored = await post('?fieldValidation=Ignore', typo);
    expect(ignored.status).toBe(201);
    expect(ignored.headers.warning).toBeUndefined();
    const clean = await post('?fieldValidation=Strict', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      metadata: { name: 'r', labels: { a: 'b' } },
      spec: { token: 'x', audiences: ['https://webhook.example'] },
      status: {},
    });
    expect(clean.status).toBe(201);
    expect(clean.headers.warning).toBeUndefined();
  });

  it('Warn names a field that is not ASCII too, its UTF-8 bytes on the wire as Go writes them (no 500)', async () => {
    const res = await post('', { ...typo, ключ: 1, spec: { token: 'x' } });
    expect(res.status).toBe(201);
    // Node reads header bytes as latin1: back to the UTF-8 text kube-apiserver wrote.
    expect(Buffer.from(String(res.headers.warning), 'latin1').toString('utf8')).toBe(
      '299 - "unknown field \\"extra\\"", 299 - "unknown field \\"ключ\\""',
    );
  });
});
