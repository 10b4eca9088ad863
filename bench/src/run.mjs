// Entry point of `pnpm bench`: runs every scenario on this machine, prints the table, writes the JSON.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { AbortRun } from './abort.mjs';
import { mint, startKit } from './kit.mjs';
import { renderMarkdown, renderText } from './report.mjs';
import { runAttack } from './scenarios/attack.mjs';
import { runCold } from './scenarios/cold.mjs';
import { HTTP_GROUPS, runHttpGroup } from './scenarios/http.mjs';
import { runInstructions } from './scenarios/instructions.mjs';
import { runMemory } from './scenarios/memory.mjs';
import { runTokenReview } from './scenarios/tokenreview.mjs';
import { parseArgs, SCENARIOS } from './settings.mjs';

const settings = parseArgs(process.argv.slice(2));
const benchDir = new URL('../', import.meta.url).pathname;
settings.profileDir = `${benchDir}results/profiles`;
// Only a full run of every scenario replaces the committed results; a quick run (a smoke test) or a
// partial one (--only) goes beside them, ignored by git.
const scratch = settings.quick
  ? 'quick.json'
  : settings.only.length < SCENARIOS.length
    ? 'partial.json'
    : null;
const outFile = settings.out ?? `${benchDir}results/${scratch ?? 'latest.json'}`;
const log = (line) => process.stderr.write(`${line}\n`);

function gitRevision() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: benchDir, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '.', '../packages', ':!results'], {
      cwd: benchDir,
      encoding: 'utf8',
    });
    return { commit, dirty: dirty.trim().length > 0 };
  } catch {
    return { commit: null, dirty: null };
  }
}

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
  };
}

const started = Date.now();
const meta = {
  date: new Date().toISOString(),
  machine: machine(),
  mode: settings.quick ? 'quick' : 'full',
  revision: gitRevision(),
  http: {
    connections: settings.connections,
    pipelining: settings.pipelining,
    warmupSeconds: settings.warmupSeconds,
    rounds: settings.rounds,
    roundSeconds: settings.roundSeconds,
  },
};
const sections = [];
let aborted = null;

const { api, info } = await startKit();
try {
  const token = await mint(api, { alg: 'RS256' });
  for (const group of HTTP_GROUPS) {
    if (!settings.only.includes(group.id)) continue;
    log(`${group.title}: ${group.contestants.length} servers, ${settings.connections} connections`);
    const section = await runHttpGroup(group, { settings, info, token, log });
    section.note =
      `${settings.connections} connections, pipelining ${settings.pipelining}, ${settings.rounds} interleaved rounds of ` +
      `${settings.roundSeconds} s (order reversed every other round) after ${settings.warmupSeconds} s warm-up; ` +
      'one RS256 token reused; each server in its own process, autocannon in the parent; ' +
      'x bare / x no-op = median (min–max) of the per-round ratios to that reference, paired by pass ' +
      '(CPU: its µs/req over ours, so higher is better in every ratio column); targets on CPU';
    sections.push(section);
  }
  if (settings.only.includes('cold')) {
    for (const alg of ['RS256', 'ES256']) {
      log(`Cold verification ${alg}`);
      sections.push(await runCold(alg, { settings, api, info, log }));
    }
  }
  if (settings.only.includes('tokenreview')) {
    log('TokenReview');
    sections.push(await runTokenReview({ settings, api, info, log }));
  }
  if (settings.only.includes('memory')) {
    log('Memory');
    sections.push(await runMemory({ settings, api, info, log }));
  }
  if (settings.only.includes('attack')) {
    log('Attack cost');
    sections.push(await runAttack({ settings, info, token, log }));
  }
  if (settings.only.includes('instructions')) {
    log('Instructions per request (callgrind)');
    sections.push(await runInstructions({ settings, api, info, token, log }));
  }
} catch (err) {
  if (!(err instanceof AbortRun)) throw err;
  aborted = err.message;
} finally {
  await api.close();
}

meta.seconds = Math.round((Date.now() - started) / 100) / 10;
const header =
  `${meta.date.slice(0, 10)}, ${meta.mode} run, ${meta.machine.cpu} (${meta.machine.cores} cores, ` +
  `${meta.machine.memoryGiB} GiB), ${meta.machine.os}, Node ${meta.machine.node}` +
  (meta.revision.commit
    ? `, commit ${meta.revision.commit.slice(0, 10)}${meta.revision.dirty ? ' + local changes' : ''}`
    : '');
console.log(`\napiserver-token bench: ${header}`);
console.log(renderText(sections));
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
writeFileSync(outFile, `${JSON.stringify({ meta, aborted, sections }, null, 2)}\n`);
console.log(`\n${meta.seconds} s; JSON written to ${outFile.replace(benchDir, 'bench/')}`);

if (settings.updateReadme && !aborted) {
  const readme = `${benchDir}README.md`;
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const text = readFileSync(readme, 'utf8');
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`bench/README.md lacks the ${start} … ${end} markers`);
  const body = `${start}\n${header}; ${meta.seconds} s.\n\n${renderMarkdown(sections)}\n`;
  writeFileSync(readme, text.slice(0, from) + body + text.slice(to));
  console.log('bench/README.md results section updated');
}

const misses = sections.flatMap((s) =>
  s.rows.filter((r) => r.verdict && r.verdict !== 'ok').map((r) => `${s.title} / ${r.label}: ${r.verdict}`),
);
if (misses.length > 0) console.log(`\nBelow target or failing:\n  ${misses.join('\n  ')}`);
if (aborted) {
  console.error(`\nABORTED: ${aborted}`);
  process.exit(1);
}
if (settings.strict && misses.length > 0) process.exit(1);
