// Cold verification: a stream of distinct valid tokens (no cache hits), ours vs the crypto limit vs jose.
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortRun } from '../abort.mjs';
import { forgeSignature, tamperClaims } from '../forge.mjs';
import { mintMany } from '../kit.mjs';
import { spawnWorker } from '../rpc.mjs';
import { pairedRatio, roundOrder, spread } from '../stats.mjs';

const WORKER = new URL('../workers/cold.mjs', import.meta.url).pathname;
const TARGET = 0.85;

const CONTESTANTS = [
  { id: 'crypto', label: 'crypto.verify, key imported once (crypto limit)' },
  { id: 'ours', label: '@apiserver-token/core verify()', ours: true },
  { id: 'jose', label: 'jose.jwtVerify + createLocalJWKSet' },
];

export async function runCold(alg, { settings, api, info, log }) {
  const n = settings.cold.tokens[alg];
  const warm = settings.cold.warmupTokens;
  log(`  minting ${n + warm} distinct ${alg} tokens`);
  const tokens = await mintMany(api, n + warm, { alg, prefix: `cold-${alg}` });
  const tokensFile = join(tmpdir(), `apiserver-token-bench-${process.pid}-${alg}.json`);
  writeFileSync(tokensFile, JSON.stringify(tokens));
  const rows = [];
  const live = [];
  try {
    for (const c of CONTESTANTS) {
      const row = { id: `cold-${alg}/${c.id}`, label: c.label, ours: !!c.ours, rounds: [] };
      rows.push(row);
      const profile = settings.cpuProf && (settings.cpuProf === 'all' || settings.cpuProf === `cold/${c.id}`);
      const worker = spawnWorker(WORKER, {
        label: row.id,
        execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`] : [],
      });
      try {
        await worker.call('prepare', { contestant: c.id, alg, tokensFile, info });
        const forged = [forgeSignature(tokens[warm]), tamperClaims(tokens[warm])];
        const { accepted } = await worker.call('forgeries', { tokens: forged });
        if (accepted > 0)
          throw new AbortRun(`${row.id} ACCEPTED ${accepted} FORGED ${alg} TOKEN(S); aborting the run`);
        row.preflight = ['wrong-signature and tampered-claims tokens rejected'];
        row.available = true;
        live.push({ row, worker });
      } catch (err) {
        await worker.stop();
        if (err.code !== 'NOT_AVAILABLE') throw err;
        row.available = false;
        row.reason = err.message.replace(/^[^:]*: /, '');
      }
    }
    for (const { worker } of live) await worker.call('run', { from: 0, to: warm });
    for (let r = 0; r < settings.cold.rounds; r++) {
      for (const { row, worker } of roundOrder(live, r)) {
        const result = await worker.call('run', { from: warm, to: warm + n });
        row.rounds.push(result);
        log(`  round ${r + 1}/${settings.cold.rounds} ${alg} ${row.label}: ${Math.round(result.rate)}/s`);
      }
    }
  } finally {
    for (const { worker } of live) await worker.stop();
    rmSync(tokensFile, { force: true });
  }
  for (const row of rows) {
    if (!row.available) continue;
    row.rate = spread(row.rounds.map((r) => r.rate));
    row.p50us = spread(row.rounds.map((r) => r.p50us)).median;
    row.p99us = spread(row.rounds.map((r) => r.p99us)).median;
    row.failures = row.rounds.reduce((sum, r) => sum + r.failures, 0);
    row.firstError = row.rounds.find((r) => r.firstError)?.firstError;
  }
  const limit = rows[0];
  const anchors = rows.filter((r) => !r.ours && r !== limit && r.available);
  for (const row of rows) {
    if (!row.available) continue;
    row.ratio = pairedRatio(row.rounds, limit.rounds, (round, base) => round.rate / base.rate);
    if (row.failures > 0) row.verdict = `FAIL: ${row.failures} valid tokens rejected (${row.firstError})`;
    else if (row.ours) {
      const ahead = anchors.every((a) => row.rate.median > a.rate.median);
      row.target = TARGET;
      if (row.ratio >= TARGET) row.verdict = ahead ? 'ok' : 'behind an anchor';
      else row.verdict = ahead ? 'below target' : 'below target, behind an anchor';
    }
  }
  return {
    kind: 'cold',
    id: `cold-${alg}`,
    alg,
    title: `Cold verification ${alg}`,
    note:
      `in-process, one token at a time, ${n} distinct tokens per round, ${settings.cold.rounds} rounds ` +
      `(order reversed every other round) after ${warm} warm-up tokens; ours gets a fresh verifier ` +
      '(empty cache) every round; x crypto limit = median of the per-round ratios',
    rows,
  };
}
