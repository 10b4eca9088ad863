/**
 * Issue 8, item 9: a replayed token the apiserver said no to must not cost a TokenReview per
 * request. Over real sockets: a webhook-like HTTP server verifies each request with the real
 * `@kubernetes/client-node` talking HTTPS to the testing kit, which counts the TokenReviews.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createVerifier, type VerifierOptions } from '../src/index.js';
import { kitSuite } from './helpers/kit-suite.js';
import { call } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const kit = kitSuite({ tokenReviewCache: false });

/** The verifier's clock: real time plus what a test skips ahead (the kit keeps real time). */
const clock = { skew: 0 };

async function webhook(mode: 'tokenreview' | 'hybrid', options: Partial<VerifierOptions> = {}) {
  const verifier = createVerifier({
    audience: AUDIENCE,
    mode,
    ...(mode === 'hybrid' && { issuer: kit.api.issuer, jwks: { uri: kit.api.jwksUrl, ca: kit.api.ca } }),
    kubeconfig: kit.api.kubeconfigPath,
    env: {},
    now: () => Date.now() + clock.skew,
    ...options,
  });
  await verifier.ready();
  const server = await kit.serve(verifier);
  return server.url;
}

/** A well-formed token for the kit's issuer and our audience, signed by a key the kit never held. */
function forgedToken(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', kid: 'forged-kid' })}.${b64({
    iss: kit.api.issuer,
    aud: [AUDIENCE],
    sub: 'system:serviceaccount:kube-system:webhook-auth',
    iat: now,
    nbf: now,
    exp: now + 600,
    'kubernetes.io': {
      namespace: 'kube-system',
      serviceaccount: { name: 'webhook-auth', uid: '5a2f6c3e-0000-4000-8000-000000000001' },
    },
  })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

async function send(url: string, token: string, times: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let index = 0; index < times; index++) statuses.push((await call(url, token)).status);
  return statuses;
}

afterEach(() => {
  clock.skew = 0;
});

describe('tokenreview mode: a rejection by the apiserver is remembered for tokenReview.failureCacheTtl', () => {
  it('one forged token sent 20 times costs one TokenReview (default 5 s), and another once that passed', async () => {
    const url = await webhook('tokenreview');
    const token = forgedToken();
    kit.api.resetCalls();
    const statuses = await send(url, token, 20);
    expect(statuses).toEqual(Array(20).fill(401));
    expect(kit.api.calls('tokenreviews')).toBe(1);

    clock.skew = 4_000; // within the 5 s
    await send(url, token, 3);
    expect(kit.api.calls('tokenreviews')).toBe(1);
    clock.skew = 5_100; // past them: asked again
    expect(await send(url, token, 3)).toEqual([401, 401, 401]);
    expect(kit.api.calls('tokenreviews')).toBe(2);
  });

  it('concurrent replays share the one review', async () => {
    const url = await webhook('tokenreview');
    const token = forgedToken();
    kit.api.resetCalls();
    const results = await Promise.all(Array.from({ length: 20 }, () => call(url, token)));
    expect(results.map((result) => result.status)).toEqual(Array(20).fill(401));
    expect(kit.api.calls('tokenreviews')).toBe(1);
  });

  it('failureCacheTtl: 0 turns it off: 20 replays, 20 TokenReviews', async () => {
    const url = await webhook('tokenreview', { tokenReview: { failureCacheTtl: 0 } });
    const token = forgedToken();
    kit.api.resetCalls();
    await send(url, token, 20);
    expect(kit.api.calls('tokenreviews')).toBe(20);
  });

  it('APISERVER_TOKEN_TOKENREVIEW_FAILURE_CACHE_TTL sets it', async () => {
    const url = await webhook('tokenreview', { env: { APISERVER_TOKEN_TOKENREVIEW_FAILURE_CACHE_TTL: '0' } });
    const token = forgedToken();
    kit.api.resetCalls();
    await send(url, token, 3);
    expect(kit.api.calls('tokenreviews')).toBe(3);
  });

  it('errors are never cached: a 503 from the apiserver is asked again on the next request', async () => {
    const url = await webhook('tokenreview', { tokenReview: { retries: 0 } });
    const token = forgedToken();
    kit.api.setFault('tokenreviews', { status: 503 });
    kit.api.resetCalls();
    const [first, second] = [await call(url, token), await call(url, token)];
    expect([first.status, second.status]).toEqual([503, 503]);
    expect(first.headers['retry-after']).toBeDefined();
    expect(kit.api.calls('tokenreviews')).toBe(2);
    kit.api.clearFaults();
    expect((await call(url, token)).status).toBe(401);
    expect(kit.api.calls('tokenreviews')).toBe(3);
  });

  it('a genuine token is not refused by the cache of another token’s rejection', async () => {
    const url = await webhook('tokenreview');
    await send(url, forgedToken(), 3);
    const genuine = await kit.api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      audiences: [AUDIENCE],
    });
    expect((await call(url, genuine)).status).toBe(200);
  });
});

describe('tokenreview mode: remembered rejections never push verified tokens out of the cache', () => {
  it('a flood of distinct forged tokens past cache.max leaves the genuine token cached: no second TokenReview', async () => {
    const url = await webhook('tokenreview', { cache: { max: 4 } });
    const genuine = await kit.api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      audiences: [AUDIENCE],
    });
    expect((await call(url, genuine)).status).toBe(200);
    kit.api.resetCalls();
    // Each forgery costs its TokenReview in this mode; remembering its "no" must not evict the genuine entry.
    for (let index = 0; index < 8; index++) expect((await call(url, forgedToken())).status).toBe(401);
    expect(kit.api.calls('tokenreviews')).toBe(8);
    expect((await call(url, genuine)).status).toBe(200);
    expect(kit.api.calls('tokenreviews')).toBe(8);
  });
});

describe('hybrid mode: a revoked token replayed costs one TokenReview per failureCacheTtl', () => {
  it("a deleted pod's token sent 20 times: one TokenReview after the revocation", async () => {
    const url = await webhook('hybrid', { tokenReview: { cacheTtl: 1 } });
    kit.api.createObject('Pod', 'apps', 'replayed-0');
    const token = await kit.api.mintToken({
      namespace: 'apps',
      serviceAccount: 'web',
      audiences: [AUDIENCE],
      boundObject: { kind: 'Pod', name: 'replayed-0' },
    });
    expect((await call(url, token)).status).toBe(200);
    kit.api.deleteObject('Pod', 'apps', 'replayed-0');
    clock.skew = 1_100; // past tokenReview.cacheTtl
    kit.api.resetCalls();
    const replies = await Promise.all(Array.from({ length: 5 }, () => call(url, token)));
    const statuses = [...replies.map((reply) => reply.status), ...(await send(url, token, 15))];
    expect(statuses).toEqual(Array(20).fill(401));
    expect(replies[0]?.body.error).toBe('revoked');
    expect(kit.api.calls('tokenreviews')).toBe(1);
  });
});
