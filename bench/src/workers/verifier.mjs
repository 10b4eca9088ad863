// Child process: one of our verifiers driven in-process (TokenReview bursts and floods, memory).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { garbageFactory } from '../forge.mjs';
import { loadOurs, ourOptions } from '../ours.mjs';
import { serve } from '../rpc.mjs';
import { SampleBuffer } from '../stats.mjs';

let verifier;

function msPercentiles(samples) {
  const { p50, p99 } = samples.percentiles();
  return { p50ms: p50, p99ms: p99 };
}

const headersOf = (token) => ({ authorization: `Bearer ${token}` });

function memory() {
  globalThis.gc?.();
  globalThis.gc?.();
  const { heapUsed, rss, external } = process.memoryUsage();
  return { heapUsed, rss, external };
}

/**
 * Runs `count` verifications of `next(i)`, keeping `concurrency` in flight (a sliding window, like
 * that many clients), and counts outcomes by error code. With `checkpoints`, the run pauses that
 * many times to record memory after GC.
 */
async function drive(count, concurrency, next, { checkpoints = 0, samples } = {}) {
  const outcomes = {};
  const marks = [];
  const one = async (token) => {
    const t0 = performance.now();
    try {
      await verifier.verify({ headers: headersOf(token) });
      outcomes.accepted = (outcomes.accepted ?? 0) + 1;
    } catch (err) {
      const code = err.code ?? 'thrown';
      outcomes[code] = (outcomes[code] ?? 0) + 1;
    }
    samples?.push(performance.now() - t0);
  };
  const segments = Math.max(1, checkpoints);
  const start = performance.now();
  let i = 0;
  for (let segment = 1; segment <= segments; segment++) {
    const end = Math.round((count * segment) / segments);
    const lane = async () => {
      while (i < end) await one(next(i++));
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, end - i) }, lane));
    if (checkpoints > 0) marks.push({ calls: end, ...memory() });
  }
  return { seconds: (performance.now() - start) / 1000, outcomes, checkpoints: marks };
}

serve({
  async open({ info, mode }) {
    const ours = await loadOurs('@apiserver-token/core');
    if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
    verifier = ours.fn(ourOptions(info, mode));
    await verifier.ready();
    return memory();
  },
  /** `n` concurrent verifications of one token. */
  async burst({ token, n }) {
    const samples = new SampleBuffer(n);
    const r = await drive(n, n, () => token, { samples });
    return { ...r, ...msPercentiles(samples) };
  },
  /** Every token of the file, `concurrency` at a time: the verifier's own cap decides how many reach the apiserver. */
  async distinct({ tokensFile, concurrency }) {
    const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'));
    const samples = new SampleBuffer(tokens.length);
    const r = await drive(tokens.length, concurrency, (i) => tokens[i], { samples });
    return { ...r, ...msPercentiles(samples) };
  },
  /** `count` never-valid tokens of the given kinds, made in this process. */
  async flood({ count, kinds, concurrency, checkpoints, gen, latencies = true }) {
    const next = garbageFactory(gen, kinds);
    // Memory runs keep no per-call samples: they would be the biggest thing on the heap.
    const samples = latencies ? new SampleBuffer(count) : undefined;
    const r = await drive(count, concurrency, next, { checkpoints, samples });
    return { ...r, ...(samples ? msPercentiles(samples) : {}) };
  },
  /** One slice of a longer stream the parent sends piecewise, so this process never holds the whole list. */
  async batch({ tokens, concurrency }) {
    const r = await drive(tokens.length, concurrency, (i) => tokens[i]);
    return { seconds: r.seconds, outcomes: r.outcomes };
  },
  memory,
  async close() {
    await verifier?.close();
    return memory();
  },
});
