// Memory under floods: random tokens, then many distinct valid tokens, with the verifier in-process.
import { mintMany } from '../kit.mjs';
import { spawnWorker } from '../rpc.mjs';

const WORKER = new URL('../workers/verifier.mjs', import.meta.url).pathname;
const RANDOM_KINDS = ['bytes', 'none', 'hmac', 'issuer', 'audience', 'expired', 'signature', 'kid'];
/** Heap growth over the run that still counts as flat (caches are bounded, a few MiB of entries). */
const FLAT_HEAP_GROWTH = 64 * 1048576;

async function inWorker(info, fn) {
  const worker = spawnWorker(WORKER, { label: 'memory', execArgv: ['--expose-gc'] });
  try {
    const before = await worker.call('open', { info, mode: 'jwks' });
    return await fn(worker, before);
  } finally {
    await worker.stop();
  }
}

function summarize(label, calls, before, r, extra = {}) {
  const after = r.checkpoints.at(-1);
  const growth = after.heapUsed - before.heapUsed;
  const accepted = r.outcomes.accepted ?? 0;
  let verdict = growth <= FLAT_HEAP_GROWTH ? 'ok' : `FAIL: heap grew ${(growth / 1048576).toFixed(0)} MiB`;
  if (extra.expectAccepted !== undefined && accepted !== extra.expectAccepted) {
    verdict = `FAIL: ${accepted} of ${calls} accepted, expected ${extra.expectAccepted}`;
  }
  return {
    label,
    available: true,
    calls,
    before,
    after,
    checkpoints: r.checkpoints,
    outcomes: r.outcomes,
    seconds: r.seconds,
    verdict,
  };
}

export async function runMemory({ settings, api, info, log }) {
  const { randomRequests, validTokens, checkpoints } = settings.memory;
  const rows = [];
  const kid = info.jwks.keys.find((k) => k.kty === 'RSA')?.kid;
  const randomLabel = `${randomRequests.toLocaleString('en-US')} random tokens`;
  const validLabel = `${validTokens.toLocaleString('en-US')} distinct valid tokens`;
  try {
    log(`  ${randomLabel}`);
    const jwksBefore = api.calls('jwks');
    rows.push(
      await inWorker(info, async (worker, before) => {
        const r = await worker.call('flood', {
          count: randomRequests,
          kinds: RANDOM_KINDS,
          concurrency: 256,
          checkpoints,
          latencies: false,
          gen: { issuer: info.issuer, audience: info.audience, kid, alg: 'RS256' },
        });
        return summarize(randomLabel, randomRequests, before, r, { expectAccepted: 0 });
      }),
    );
    rows.at(-1).jwksFetches = api.calls('jwks') - jwksBefore;

    log(`  minting ${validTokens} ES256 tokens`);
    const tokens = await mintMany(api, validTokens, { alg: 'ES256', prefix: 'memory' });
    log(`  ${validLabel}`);
    rows.push(
      await inWorker(info, async (worker, before) => {
        // Sent in slices so that the worker's heap holds the verifier's state, not our token list.
        const r = { seconds: 0, outcomes: {}, checkpoints: [] };
        const slice = 2000;
        const every = Math.ceil(validTokens / checkpoints);
        for (let i = 0; i < validTokens; i += slice) {
          const part = await worker.call('batch', { tokens: tokens.slice(i, i + slice), concurrency: 64 });
          r.seconds += part.seconds;
          for (const [k, v] of Object.entries(part.outcomes)) r.outcomes[k] = (r.outcomes[k] ?? 0) + v;
          const done = Math.min(validTokens, i + slice);
          if (Math.floor(done / every) > Math.floor(i / every) || done === validTokens) {
            r.checkpoints.push({ calls: done, ...(await worker.call('memory')) });
          }
        }
        return summarize(validLabel, validTokens, before, r, { expectAccepted: validTokens });
      }),
    );
  } catch (err) {
    if (err.code !== 'NOT_AVAILABLE') throw err;
    const reason = err.message.replace(/^[^:]*: /, '');
    for (const label of [randomLabel, validLabel].slice(rows.length))
      rows.push({ label, available: false, reason });
  }
  return {
    kind: 'memory',
    id: 'memory',
    title: 'Memory',
    note:
      'in-process (verify() called directly, not over HTTP) in a child with --expose-gc, jwks mode, default ' +
      `cache limits, 256 calls in flight; random tokens mix ${RANDOM_KINDS.join('/')}`,
    rows,
  };
}
