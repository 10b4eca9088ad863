import { afterEach, describe, expect, it } from 'vitest';
import { ApiserverUnavailableError, TokenRejectedError } from '../src/errors.js';
import { importClientNode } from '../src/tokenreview/client-node.js';
import { resolveKubeConfig } from '../src/tokenreview/kubeconfig.js';
import { type ReviewClientSettings, TokenReviewClient } from '../src/tokenreview/review-client.js';
import { clientNodeTransport } from '../src/tokenreview/transport.js';
import { type ReviewServer, reviewAnswer, startReviewServer, statusAnswer } from './helpers/review-server.js';

const AUDIENCE = 'https://webhook.example';
const SETTINGS: ReviewClientSettings = {
  timeout: 2000,
  retries: 4,
  backoff: { initial: 20, factor: 1.5, jitter: 0.2, max: 1000 },
  deadline: 5000,
  maxInFlight: 32,
  maxQueued: 256,
};

const accepted = (audiences = [AUDIENCE]) =>
  reviewAnswer({
    authenticated: true,
    user: {
      username: 'system:serviceaccount:demo:webhook-client',
      uid: 'u-1',
      groups: ['system:authenticated'],
    },
    audiences,
  });

let server: ReviewServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientFor(
  srv: ReviewServer,
  settings: Partial<ReviewClientSettings> = {},
  logs: string[] = [],
) {
  const module = await importClientNode();
  const config = resolveKubeConfig(module, srv.kubeconfigPath, false, {});
  const transport = clientNodeTransport(module, config);
  const sink = (object: Record<string, unknown>, message: string) =>
    logs.push(`${JSON.stringify(object)} ${message}`);
  return new TokenReviewClient(
    async () => transport,
    { ...SETTINGS, ...settings },
    {
      logger: { debug: sink, info: sink, warn: sink, error: (o, m) => sink({ ...o, level: 'error' }, m) },
    },
  );
}

async function failure(promise: Promise<unknown>): Promise<ApiserverUnavailableError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiserverUnavailableError);
  return error as ApiserverUnavailableError;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TokenReviewClient over real HTTPS with @kubernetes/client-node', () => {
  it('sends an authentication.k8s.io/v1 TokenReview with our audiences and the kubeconfig credentials', async () => {
    server = await startReviewServer(() => accepted());
    const client = await clientFor(server);
    const result = await client.review('the-token', [AUDIENCE, 'https://other.example']);
    expect(result.audiences).toEqual([AUDIENCE]);
    expect(result.identity.serviceAccount).toEqual({ namespace: 'demo', name: 'webhook-client', uid: 'u-1' });
    expect(server.received).toHaveLength(1);
    expect(server.received[0]?.body).toMatchObject({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: 'the-token', audiences: [AUDIENCE, 'https://other.example'] },
    });
    expect(server.received[0]?.headers.authorization).toBe(`Bearer ${server.reviewerToken}`);
  });

  it('a "no" from the apiserver is a TokenRejectedError carrying status.error for the logs, without retry', async () => {
    server = await startReviewServer(() =>
      reviewAnswer({ user: {}, error: '[invalid bearer token, service account token has been invalidated]' }),
    );
    const client = await clientFor(server);
    const error = await client.review('t', [AUDIENCE]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenRejectedError);
    expect((error as Error).message).toContain('service account token has been invalidated');
    expect((error as TokenRejectedError).toJSON().error_description).not.toContain('invalidated');
    expect(server.received).toHaveLength(1);
  });

  it('authenticated for other audiences only, or without audiences, is a rejection', async () => {
    server = await startReviewServer((_, index) =>
      index === 0 ? accepted(['https://other.example']) : accepted([]),
    );
    const client = await clientFor(server);
    await expect(client.review('t', [AUDIENCE])).rejects.toBeInstanceOf(TokenRejectedError);
    await expect(client.review('t', [AUDIENCE])).rejects.toBeInstanceOf(TokenRejectedError);
  });

  it('retries 429, 500, 502, 503 and 504, then succeeds', async () => {
    const plan = [statusAnswer(429), statusAnswer(500), statusAnswer(502), statusAnswer(503), accepted()];
    server = await startReviewServer((_, index) => plan[index] ?? statusAnswer(500));
    const client = await clientFor(server);
    await expect(client.review('t', [AUDIENCE])).resolves.toMatchObject({ audiences: [AUDIENCE] });
    expect(server.received).toHaveLength(5);
    server.received.length = 0;
    const plan504 = [statusAnswer(504), accepted()];
    server.handler = (_, index) => plan504[index - 5] ?? statusAnswer(500);
    await expect(client.review('t', [AUDIENCE])).resolves.toMatchObject({ audiences: [AUDIENCE] });
    expect(server.received).toHaveLength(2);
  });

  it('gives up after `retries` retries with 503 apiserver_unavailable', async () => {
    server = await startReviewServer(() => statusAnswer(503));
    const client = await clientFor(server, { retries: 2 });
    const error = await failure(client.review('t', [AUDIENCE]));
    expect(error.code).toBe('apiserver_unavailable');
    expect(error.status).toBe(503);
    expect(error.headers['retry-after']).toBe('1');
    expect(server.received).toHaveLength(3);
  });

  it('does not retry other statuses (400, 404, 422)', async () => {
    for (const code of [400, 404, 422]) {
      server = await startReviewServer(() => statusAnswer(code));
      const client = await clientFor(server);
      await failure(client.review('t', [AUDIENCE]));
      expect(server.received).toHaveLength(1);
      await server.close();
      server = undefined;
    }
  });

  it('401/403 (the reviewer lacks permission) -> 503 with a loud logged reason, never retried, never an accept', async () => {
    for (const code of [401, 403]) {
      server = await startReviewServer(() => statusAnswer(code));
      const logs: string[] = [];
      const client = await clientFor(server, {}, logs);
      await failure(client.review('t', [AUDIENCE]));
      expect(server.received).toHaveLength(1);
      expect(
        logs.some((line) => line.includes('"level":"error"') && line.includes('system:auth-delegator')),
      ).toBe(true);
      await server.close();
      server = undefined;
    }
  });

  it('honours Retry-After (seconds) between attempts', async () => {
    const times: number[] = [];
    server = await startReviewServer((_, index) => {
      times.push(Date.now());
      return index === 0 ? statusAnswer(429, { 'retry-after': '1' }) : accepted();
    });
    const client = await clientFor(server);
    await client.review('t', [AUDIENCE]);
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
  });

  it('a Retry-After beyond the deadline fails at once, passing the hint on', async () => {
    server = await startReviewServer(() => statusAnswer(429, { 'retry-after': '30' }));
    const client = await clientFor(server, { deadline: 2000 });
    const started = Date.now();
    const error = await failure(client.review('t', [AUDIENCE]));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error.retryAfter).toBe(30);
    expect(server.received).toHaveLength(1);
  });

  it('retries a connection reset', async () => {
    server = await startReviewServer((_, index) => (index === 0 ? { reset: true } : accepted()));
    const client = await clientFor(server);
    await expect(client.review('t', [AUDIENCE])).resolves.toMatchObject({ audiences: [AUDIENCE] });
    expect(server.received).toHaveLength(2);
  });

  it('apiserver down (connection refused): 503 at once, and recovery as soon as it is back', async () => {
    server = await startReviewServer(() => accepted());
    const client = await clientFor(server);
    await server.pause();
    const started = Date.now();
    const error = await failure(client.review('t', [AUDIENCE]));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error.message).toContain('ECONNREFUSED');
    await server.resume();
    await expect(client.review('t', [AUDIENCE])).resolves.toMatchObject({ audiences: [AUDIENCE] });
  });

  it('a hanging apiserver: the attempt is aborted at the timeout and its connection closed', async () => {
    server = await startReviewServer(() => ({ hang: true }));
    const client = await clientFor(server, { timeout: 300 });
    const started = Date.now();
    await failure(client.review('t', [AUDIENCE]));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
    // The abort reached the socket: the server sees the request go away.
    for (let i = 0; i < 50 && server.inFlight > 0; i++) await sleep(20);
    expect(server.inFlight).toBe(0);
  });

  it('the overall deadline bounds a slow apiserver that keeps answering 503', async () => {
    server = await startReviewServer(() => ({ ...statusAnswer(503), delayMs: 200 }));
    const client = await clientFor(server, {
      retries: 20,
      deadline: 1000,
      backoff: { initial: 100, factor: 1.5, jitter: 0, max: 1000 },
    });
    const started = Date.now();
    await failure(client.review('t', [AUDIENCE]));
    expect(Date.now() - started).toBeLessThan(1300);
  });

  it('never more than maxInFlight requests at the apiserver; beyond maxQueued, 503 at once', async () => {
    server = await startReviewServer(() => ({ ...accepted(), delayMs: 150 }));
    const client = await clientFor(server, { maxInFlight: 4, maxQueued: 8 });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => client.review(`t${i}`, [AUDIENCE])),
    );
    const ok = results.filter((result) => result.status === 'fulfilled').length;
    const shed = results.filter(
      (result) => result.status === 'rejected' && result.reason instanceof ApiserverUnavailableError,
    ).length;
    expect(ok).toBe(12);
    expect(shed).toBe(8);
    expect(server.maxConcurrent).toBe(4);
    expect(server.received).toHaveLength(12);
    const rejected = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as ApiserverUnavailableError).headers['retry-after']).toBe('1');
  });

  it('a queued review that cannot get a slot before the deadline fails with 503', async () => {
    server = await startReviewServer(() => ({ hang: true }));
    const client = await clientFor(server, { maxInFlight: 1, maxQueued: 10, timeout: 2000, deadline: 400 });
    const started = Date.now();
    const [first, second] = await Promise.allSettled([
      client.review('a', [AUDIENCE]),
      client.review('b', [AUDIENCE]),
    ]);
    expect(first.status).toBe('rejected');
    expect(second.status).toBe('rejected');
    expect(Date.now() - started).toBeLessThan(1200);
    expect(server.received).toHaveLength(1);
  });
});
