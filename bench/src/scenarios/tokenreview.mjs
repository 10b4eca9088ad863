// TokenReview mode: how many TokenReviews reach the apiserver for bursts, distinct tokens and garbage.
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mint, mintMany } from '../kit.mjs';
import { spawnWorker } from '../rpc.mjs';

const WORKER = new URL('../workers/verifier.mjs', import.meta.url).pathname;
/** What the pre-check alone can tell from the token: these must never cost a TokenReview. */
const PRECHECK_GARBAGE = ['bytes', 'none', 'hmac', 'issuer', 'audience', 'expired'];
/** Hybrid verifies the signature first, so forgeries must not reach the apiserver either. */
const HYBRID_GARBAGE = [...PRECHECK_GARBAGE, 'signature', 'kid'];

function garbageSpec(info, kid) {
  return { issuer: info.issuer, audience: info.audience, kid, alg: 'RS256' };
}

async function withWorker(info, mode, settings, fn) {
  const profile =
    settings.cpuProf && (settings.cpuProf === 'all' || settings.cpuProf === `tokenreview/${mode}`);
  const worker = spawnWorker(WORKER, {
    label: `tokenreview/${mode}`,
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`] : [],
  });
  try {
    await worker.call('open', { info, mode });
    return await fn(worker);
  } finally {
    await worker.stop();
  }
}

function unavailable(label, err) {
  if (err.code !== 'NOT_AVAILABLE' && !/mode|kubeconfig/i.test(err.message)) throw err;
  return { label, available: false, reason: err.message.replace(/^[^:]*: /, '') };
}

export async function runTokenReview({ settings, api, info, log }) {
  const { burst, distinct, garbage, concurrency } = settings.tokenreview;
  const reviews = () => api.calls('tokenreviews');
  const kid = info.jwks.keys.find((k) => k.kty === 'RSA')?.kid;
  const rows = [];

  const burstLabel = `burst: ${burst} concurrent requests, one new token`;
  const distinctLabel = `${distinct} distinct tokens, ${concurrency} at a time, through the in-flight cap`;
  const floodLabel = `garbage flood: ${garbage} tokens the pre-check refuses`;
  try {
    await withWorker(info, 'tokenreview', settings, async (worker) => {
      log(`  ${burstLabel}`);
      const token = await mint(api, { serviceAccount: 'burst' });
      let before = reviews();
      const b = await worker.call('burst', { token, n: burst });
      rows.push(row(burstLabel, burst, reviews() - before, b, 1));

      log(`  ${distinctLabel}`);
      const tokens = await mintMany(api, distinct, { prefix: 'tokenreview' });
      const file = join(tmpdir(), `apiserver-token-bench-${process.pid}-tokenreview.json`);
      writeFileSync(file, JSON.stringify(tokens));
      before = reviews();
      try {
        const d = await worker.call('distinct', { tokensFile: file, concurrency });
        rows.push(row(distinctLabel, distinct, reviews() - before, d, distinct));
      } finally {
        rmSync(file, { force: true });
      }

      log(`  ${floodLabel}`);
      before = reviews();
      const f = await worker.call('flood', {
        count: garbage,
        kinds: PRECHECK_GARBAGE,
        concurrency: 256,
        gen: garbageSpec(info, kid),
      });
      rows.push(row(floodLabel, garbage, reviews() - before, f, 0, true));
    });
  } catch (err) {
    const r = unavailable('tokenreview mode', err);
    for (const label of [burstLabel, distinctLabel, floodLabel]) rows.push({ ...r, label });
  }

  const hybridLabel = `garbage flood, hybrid mode: ${garbage} incl. forged signatures, unknown kids`;
  try {
    await withWorker(info, 'hybrid', settings, async (worker) => {
      log(`  ${hybridLabel}`);
      const before = reviews();
      const jwksBefore = api.calls('jwks');
      const f = await worker.call('flood', {
        count: garbage,
        kinds: HYBRID_GARBAGE,
        concurrency: 256,
        gen: garbageSpec(info, kid),
      });
      const r = row(hybridLabel, garbage, reviews() - before, f, 0, true);
      r.jwksFetches = api.calls('jwks') - jwksBefore;
      rows.push(r);
    });
  } catch (err) {
    rows.push(unavailable(hybridLabel, err));
  }

  return {
    kind: 'tokenreview',
    id: 'tokenreview',
    title: 'TokenReview',
    note:
      'our core verifier in-process in its own child, the testing kit serving TokenReviews over HTTPS from ' +
      'the parent; TokenReviews counted by the kit',
    rows,
  };
}

function row(label, requests, tokenReviews, r, expected, garbage = false) {
  const accepted = r.outcomes.accepted ?? 0;
  const wrongOutcome = garbage ? accepted > 0 : accepted !== requests;
  let verdict = tokenReviews === expected ? 'ok' : `FAIL: expected ${expected} TokenReviews`;
  if (wrongOutcome)
    verdict = garbage ? `FAIL: ${accepted} garbage tokens accepted` : `FAIL: ${requests - accepted} rejected`;
  return {
    label,
    available: true,
    requests,
    tokenReviews,
    expectedTokenReviews: expected,
    rate: requests / r.seconds,
    seconds: r.seconds,
    p50ms: r.p50ms,
    p99ms: r.p99ms,
    outcomes: r.outcomes,
    verdict,
  };
}
