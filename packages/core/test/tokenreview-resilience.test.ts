import { describe, expect, it } from 'vitest';
import { AttemptTimeoutError, classifyAttemptFailure } from '../src/tokenreview/attempt-failure.js';
import { backoffDelay, parseRetryAfter } from '../src/tokenreview/backoff.js';
import { ConcurrencyLimiter, LimiterRejection } from '../src/tokenreview/limiter.js';

const KUBERNETES = { initial: 500, factor: 1.5, jitter: 0.2, max: 5000 };

describe('backoff', () => {
  it("follows Kubernetes' webhook backoff: 500 ms x1.5, plus up to 20% jitter", () => {
    expect([0, 1, 2, 3].map((retry) => backoffDelay(retry, KUBERNETES, () => 0))).toEqual([
      500, 750, 1125, 1687.5,
    ]);
    expect(backoffDelay(0, KUBERNETES, () => 1)).toBe(600);
    expect(backoffDelay(1, KUBERNETES, () => 0.5)).toBe(825);
  });

  it('is capped before jitter', () => {
    expect(backoffDelay(20, KUBERNETES, () => 0)).toBe(5000);
    expect(backoffDelay(20, KUBERNETES, () => 1)).toBe(6000);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-11-23T16:00:00Z');
  it('reads delta-seconds and HTTP-dates', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 23 Nov 2026 16:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 15:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(['2'], now)).toBe(2000);
  });
  it('ignores what it cannot read', () => {
    for (const value of [undefined, '', '-1', '1.5', 'soon', 7])
      expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('what is retried', () => {
  const apiException = (code: number, headers: Record<string, string> = {}) =>
    Object.assign(new Error(`HTTP-Code: ${code}`), { code, headers, body: { message: 'm' } });

  it('429, 500, 502, 503, 504 only among statuses', () => {
    for (const code of [429, 500, 502, 503, 504])
      expect(classifyAttemptFailure(apiException(code), 0).retryable).toBe(true);
    for (const code of [400, 404, 409, 422, 501, 505]) {
      expect(classifyAttemptFailure(apiException(code), 0).retryable).toBe(false);
    }
  });

  it('401 and 403 are a misconfiguration, never retried', () => {
    for (const code of [401, 403]) {
      const failure = classifyAttemptFailure(apiException(code), 0);
      expect(failure).toMatchObject({ retryable: false, misconfiguration: true, status: code });
    }
  });

  it('carries Retry-After', () => {
    expect(classifyAttemptFailure(apiException(429, { 'Retry-After': '4' }), 0).retryAfterMs).toBe(4000);
  });

  it('connection resets (node-fetch and undici shapes) are retried; refused, TLS errors and timeouts are not', () => {
    const reset = Object.assign(new Error('request failed, reason: read ECONNRESET'), { code: 'ECONNRESET' });
    const undici = new TypeError('fetch failed', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    const hangUp = new Error('request to https://x failed, reason: socket hang up');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(classifyAttemptFailure(reset, 0).retryable).toBe(true);
    expect(classifyAttemptFailure(undici, 0).retryable).toBe(true);
    expect(classifyAttemptFailure(hangUp, 0).retryable).toBe(true);
    expect(classifyAttemptFailure(refused, 0).retryable).toBe(false);
    expect(classifyAttemptFailure(tls, 0).retryable).toBe(false);
    expect(classifyAttemptFailure(new AttemptTimeoutError(10), 0).retryable).toBe(false);
  });
});

describe('ConcurrencyLimiter', () => {
  it('grants up to maxInFlight, queues FIFO up to maxQueued, refuses beyond', async () => {
    const limiter = new ConcurrencyLimiter(2, 2);
    const a = await limiter.acquire(1000);
    const b = await limiter.acquire(1000);
    const order: string[] = [];
    const c = limiter.acquire(1000).then((release) => {
      order.push('c');
      return release;
    });
    const d = limiter.acquire(1000).then((release) => {
      order.push('d');
      return release;
    });
    await expect(limiter.acquire(1000)).rejects.toMatchObject({ kind: 'queue_full' });
    expect(limiter.inFlight).toBe(2);
    expect(limiter.queued).toBe(2);
    a();
    a(); // releasing twice frees one slot only
    (await c)();
    b();
    (await d)();
    expect(order).toEqual(['c', 'd']);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('a waiter gives up after its wait time, leaving the queue', async () => {
    const limiter = new ConcurrencyLimiter(1, 5);
    const held = await limiter.acquire(100);
    const started = Date.now();
    const error = await limiter.acquire(50).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LimiterRejection);
    expect((error as LimiterRejection).kind).toBe('wait_timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(limiter.queued).toBe(0);
    held();
    expect(limiter.inFlight).toBe(0);
  });

  it('maxQueued 0 refuses at once when full', async () => {
    const limiter = new ConcurrencyLimiter(1, 0);
    await limiter.acquire(10);
    await expect(limiter.acquire(1000)).rejects.toMatchObject({ kind: 'queue_full' });
  });
});
