/**
 * The tokenreview mode end to end over real sockets: a webhook-like HTTP server verifies each
 * request with the real `@kubernetes/client-node` talking HTTPS to the testing kit's apiserver
 * through the kit's kubeconfig.
 */

import type { TestApiserver } from '@apiserver-token/testing';
import { describe, expect, it } from 'vitest';
import { createVerifier, type VerifierOptions } from '../src/index.js';
import { kitSuite } from './helpers/kit-suite.js';
import { call, pool } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
// Revocation timing is what these tests measure: without kube-apiserver's 10 s success cache.
const kit = kitSuite({ tokenReviewCache: false });

async function webhook(options: Partial<VerifierOptions> = {}, { ready = true } = {}) {
  const verifier = createVerifier({
    audience: AUDIENCE,
    mode: 'tokenreview',
    kubeconfig: kit.api.kubeconfigPath,
    env: {},
    ...options,
  });
  if (ready) await verifier.ready();
  const server = await kit.serve(verifier);
  return { verifier, url: server.url };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let serial = 0;
const mint = (extra: Parameters<TestApiserver['mintToken']>[0] = {}) =>
  kit.api.mintToken({
    namespace: 'kube-system',
    serviceAccount: `sa-${serial++}`,
    audiences: [AUDIENCE],
    ...extra,
  });

describe('tokenreview mode against the testing kit', () => {
  it('accepts a kit token with the identity TokenReview states', async () => {
    const { url } = await webhook();
    const token = await mint({ serviceAccount: 'webhook-auth', boundObject: { kind: 'Pod', name: 'p1' } });
    const result = await call(url, token);
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      serviceAccount: { namespace: 'kube-system', name: 'webhook-auth' },
      boundObject: { kind: 'Pod', name: 'p1', namespace: 'kube-system' },
      audiences: [AUDIENCE],
      verifiedBy: 'tokenreview',
      issuer: kit.api.issuer,
    });
    expect(kit.api.calls('tokenreviews')).toBe(1);
    const [review] = kit.api.requests('tokenreviews');
    expect(review?.body).toMatchObject({ spec: { audiences: [AUDIENCE] } });
  });

  it('1,000 concurrent requests carrying one new token cause exactly one TokenReview', async () => {
    const { url } = await webhook();
    const token = await mint();
    // Hold the one review long enough for every request to arrive while it is in flight.
    kit.api.setFault('tokenreviews', { latencyMs: 300 });
    const results = await Promise.all(Array.from({ length: 1000 }, () => call(url, token)));
    expect(results.filter((result) => result.status === 200)).toHaveLength(1000);
    expect(kit.api.calls('tokenreviews')).toBe(1);
  });

  it('the coalesced review completes for the others even if the first caller disconnects', async () => {
    const { url } = await webhook();
    const token = await mint();
    kit.api.setFault('tokenreviews', { latencyMs: 400 });
    const first = call(url, token, { abortAfterMs: 50 }).catch((error: Error) => error);
    await sleep(100);
    const second = await call(url, token);
    expect(await first).toBeInstanceOf(Error);
    expect(second.status).toBe(200);
    expect(kit.api.calls('tokenreviews')).toBe(1);
    // ...and its result was cached for the next caller.
    expect((await call(url, token)).status).toBe(200);
    expect(kit.api.calls('tokenreviews')).toBe(1);
  });

  it('10,000 garbage or wrong-audience tokens cause zero TokenReviews', async () => {
    const { url } = await webhook();
    const now = Math.floor(Date.now() / 1000);
    const minted = await Promise.all([
      ...Array.from({ length: 20 }, () => mint({ audiences: ['https://other-webhook.example'] })),
      ...Array.from({ length: 20 }, () => mint({ audiences: kit.api.apiAudiences as string[] })),
      ...Array.from({ length: 20 }, () => mint({ issuedAt: now - 7200, expiresIn: 3600 })),
      ...Array.from({ length: 20 }, () => mint({ alg: 'PS256' })),
    ]);
    const garbage = (index: number): string => {
      switch (index % 4) {
        case 0:
          return Buffer.from(`${index}:${Math.random()}`).toString('hex'); // an opaque token
        case 1:
          return `${Buffer.from(`{"alg":"RS256","n":${index}}`).toString('base64url')}.e30.c2ln`;
        case 2:
          return `not.a.${index}`;
        default:
          return minted[index % minted.length] as string;
      }
    };
    const results = await pool(10_000, 100, (index) => call(url, garbage(index)));
    expect(results.every((result) => result.status === 401)).toBe(true);
    expect(kit.api.calls('tokenreviews')).toBe(0);
  });

  it('a deleted pod is noticed within tokenReview.cacheTtl', async () => {
    const { url } = await webhook({ tokenReview: { cacheTtl: 1 } });
    kit.api.createObject('Pod', 'kube-system', 'doomed-pod');
    const token = await mint({ boundObject: { kind: 'Pod', name: 'doomed-pod' } });
    expect((await call(url, token)).status).toBe(200);
    kit.api.deleteObject('Pod', 'kube-system', 'doomed-pod');
    expect((await call(url, token)).status).toBe(200); // cached for up to 1 s
    await sleep(1100);
    const after = await call(url, token);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('token_rejected');
    expect(kit.api.calls('tokenreviews')).toBe(2);
  });

  describe('apiserver trouble: bounded latency, 503 with Retry-After, no wrong accepts, immediate recovery', () => {
    // The attempt timeout leaves room for a TLS handshake on a loaded machine (the kit, the webhook
    // and the verifier share this process's event loop): at 300 ms, after a fault that destroyed
    // the kept-alive connections, five new handshakes at once on a CI machine at load 8 timed out
    // and the recovery check saw 503s that no cache had made.
    const resilience: Partial<VerifierOptions> = {
      tokenReview: { timeout: 1000, deadline: 2500, backoff: { initial: 50, max: 200 } },
    };
    const faults = [
      ['down (connection reset)', { down: true }],
      ['slow (past the attempt timeout)', { latencyMs: 4000 }],
      ['429 with Retry-After: 1', { status: 429, retryAfter: 1 }],
      ['500', { status: 500 }],
      ['502', { status: 502 }],
      ['503', { status: 503 }],
      ['504', { status: 504 }],
      ['half a response then reset', { reset: true }],
      ['malformed body', { malformed: true }],
    ] as const;
    for (const [name, fault] of faults) {
      it(name, async () => {
        const { url } = await webhook(resilience);
        const tokens = await Promise.all(Array.from({ length: 5 }, () => mint()));
        kit.api.setFault('tokenreviews', fault);
        const during = await Promise.all(tokens.map((token) => call(url, token)));
        for (const result of during) {
          expect(result.status).toBe(503);
          expect(result.body.error).toBe('apiserver_unavailable');
          expect(Number(result.headers['retry-after'])).toBeGreaterThanOrEqual(1);
          // The deadline, plus room for a loaded machine; never the 4 s of the slow fault.
          expect(result.ms).toBeLessThan(3800);
        }
        kit.api.clearFaults();
        // Errors are never cached: the very next request succeeds.
        const after = await Promise.all(tokens.map((token) => call(url, token)));
        expect(after.map((result) => result.status)).toEqual([200, 200, 200, 200, 200]);
      });
    }

    it('a reviewer without permission (403) is a loud 503, never an accept', async () => {
      const user = await kit.api.addUser({ name: 'no-review', canReview: false });
      const lines: string[] = [];
      const log = (o: Record<string, unknown>, m: string) => lines.push(`${m} ${JSON.stringify(o)}`);
      const { url, verifier } = await webhook(
        {
          kubeconfig: user.kubeconfigPath,
          logger: { debug: log, info: log, warn: log, error: (_o, m) => lines.push(`ERROR ${m}`) },
        },
        { ready: false },
      );
      // Not ready: the apiserver says these credentials may not create TokenReviews.
      await expect(verifier.ready()).rejects.toMatchObject({ code: 'apiserver_unavailable' });
      const result = await call(url, await mint());
      expect(result.status).toBe(503);
      expect(kit.api.calls('tokenreviews')).toBe(1);
      // Reported once (ready() found it first), loudly, at error level.
      expect(
        lines.filter((line) => line.startsWith('ERROR') && line.includes('may not create tokenreviews')),
      ).toHaveLength(1);
    });
  });

  it('holds maxInFlight under a burst of distinct valid tokens, and sheds beyond maxQueued', async () => {
    const { url } = await webhook({ tokenReview: { maxInFlight: 8, maxQueued: 40 } });
    const tokens = await Promise.all(Array.from({ length: 64 }, () => mint()));
    kit.api.setFault('tokenreviews', { latencyMs: 800 });
    const pending = Promise.all(tokens.map((token) => call(url, token)));
    for (let i = 0; i < 200 && kit.api.calls('tokenreviews') < 8; i++) await sleep(10);
    await sleep(300);
    // While the first 8 are held at the server, not one more has been sent.
    expect(kit.api.calls('tokenreviews')).toBe(8);
    const results = await pending;
    const ok = results.filter((result) => result.status === 200);
    const shed = results.filter((result) => result.status === 503);
    expect(ok).toHaveLength(48);
    expect(shed).toHaveLength(16);
    for (const result of shed) expect(result.headers['retry-after']).toBe('1');
    expect(kit.api.calls('tokenreviews')).toBe(48);
  });

  it('in-flight reviews stay capped even when the apiserver is slow and attempts time out', async () => {
    const { url } = await webhook({
      tokenReview: { maxInFlight: 4, maxQueued: 100, timeout: 200, retries: 0, deadline: 5000 },
    });
    const tokens = await Promise.all(Array.from({ length: 12 }, () => mint()));
    kit.api.setFault('tokenreviews', { latencyMs: 1000 });
    const started = Date.now();
    const results = await Promise.all(tokens.map((token) => call(url, token)));
    expect(results.every((result) => result.status === 503)).toBe(true);
    // 12 reviews, 4 at a time, each abandoned after 200 ms: three waves.
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(kit.api.calls('tokenreviews')).toBe(12);
  });
});
