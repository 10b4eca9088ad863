// Instructions per request counted by valgrind (callgrind): a figure that does not move with the
// machine's load, for the in-process hot path (ours vs a no-op middleware per framework) and the
// cold path (ours vs a bare crypto.verify loop). Skipped, with the reason, when valgrind is absent.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintMany } from '../kit.mjs';

const WORKER = new URL('../workers/instructions.mjs', import.meta.url).pathname;
// os.freemem() ends in uv_get_free_memory, which nothing else calls: the worker's segment marker.
const MARKER = 'uv_get_free_memory';
// Deterministic V8: no background compiler or GC threads, fixed seeds.
const NODE_FLAGS = ['--single-threaded', '--hash-seed=1', '--random-seed=1'];

/** `valgrind --version`, or undefined when valgrind cannot run here. */
export function valgrindVersion() {
  const result = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.trim();
}

const ROWS = [
  { group: 'Express middleware, cache hit', id: 'hot/express/noop', label: 'no-op middleware', ref: true },
  { group: 'Express middleware, cache hit', id: 'hot/express/ours', label: '@apiserver-token/express' },
  { group: 'Fastify onRequest hook, cache hit', id: 'hot/fastify/noop', label: 'no-op hook', ref: true },
  { group: 'Fastify onRequest hook, cache hit', id: 'hot/fastify/ours', label: '@apiserver-token/fastify' },
  { group: 'Koa middleware, cache hit', id: 'hot/koa/noop', label: 'no-op middleware', ref: true },
  { group: 'Koa middleware, cache hit', id: 'hot/koa/ours', label: '@apiserver-token/koa' },
  { group: 'core verify(), cache hit', id: 'hot/core/ours', label: '@apiserver-token/core verify()' },
  { group: 'Cold RS256', id: 'cold/RS256/crypto', label: 'crypto.verify (crypto limit)', ref: true },
  { group: 'Cold RS256', id: 'cold/RS256/ours', label: '@apiserver-token/core verifyToken()' },
  { group: 'Cold ES256', id: 'cold/ES256/crypto', label: 'crypto.verify (crypto limit)', ref: true },
  { group: 'Cold ES256', id: 'cold/ES256/ours', label: '@apiserver-token/core verifyToken()' },
];

function run(command, args, { cwd }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The `summary:` (instructions) of each dump part in `dir`, by part number. */
function readParts(dir) {
  const parts = new Map();
  for (const name of readdirSync(dir)) {
    const match = /^cg\.out\.(\d+)$/.exec(name);
    if (!match) continue;
    const summary = /^summary: (\d+)$/m.exec(readFileSync(join(dir, name), 'utf8'));
    if (summary) parts.set(Number(match[1]), Number(summary[1]));
  }
  return parts;
}

export async function runInstructions({ settings, api, info, token, log }) {
  const base = {
    kind: 'instructions',
    id: 'instructions',
    title: 'Instructions per request (valgrind callgrind)',
  };
  const version = valgrindVersion();
  if (version === undefined) {
    log('  valgrind not found: skipped (apt-get install valgrind)');
    return {
      ...base,
      note: 'skipped: valgrind is not installed on this machine (Debian/Ubuntu: apt-get install valgrind)',
      rows: ROWS.map((r) => ({ ...r, available: false, reason: 'valgrind not installed' })),
    };
  }
  const sizes = settings.instructions;
  const need = sizes.coldWarm + 2 * sizes.coldCalls;
  log(`  minting ${need} distinct RS256 and ES256 tokens`);
  const cold = {
    RS256: await mintMany(api, need, { alg: 'RS256', prefix: 'cg-rs' }),
    ES256: await mintMany(api, need, { alg: 'ES256', prefix: 'cg-es' }),
  };
  const dir = join(tmpdir(), `apiserver-token-callgrind-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const inputFile = join(dir, 'input.json');
    writeFileSync(inputFile, JSON.stringify({ info, token, cold, sizes }));
    log(`  ${version}: node under callgrind (a few minutes on 2 cores)`);
    const started = Date.now();
    const result = await run(
      'valgrind',
      [
        '--tool=callgrind',
        `--dump-before=${MARKER}`,
        `--callgrind-out-file=${join(dir, 'cg.out')}`,
        process.execPath,
        ...NODE_FLAGS,
        WORKER,
        inputFile,
      ],
      { cwd: dir },
    );
    const last = result.stdout.trim().split('\n').pop() ?? '';
    let parsed;
    try {
      parsed = JSON.parse(last);
    } catch {
      throw new Error(
        `the callgrind worker failed (exit ${result.code}): ${result.stderr
          .split('\n')
          .filter((line) => !line.startsWith('=='))
          .slice(-12)
          .join('\n')}`,
      );
    }
    if (parsed.unavailable) {
      return {
        ...base,
        note: `skipped: ${parsed.unavailable}`,
        rows: ROWS.map((r) => ({ ...r, available: false, reason: parsed.unavailable })),
      };
    }
    const parts = readParts(dir);
    const rows = ROWS.map((r) => {
      const segments = parsed.segments.filter((s) => s.id === r.id);
      const perCall = segments.map((s) => parts.get(s.part) / s.calls);
      if (segments.length === 0 || perCall.some((v) => !Number.isFinite(v)))
        return { ...r, available: false, reason: 'no count' };
      const mean = perCall.reduce((a, b) => a + b, 0) / perCall.length;
      return {
        ...r,
        available: true,
        calls: segments.map((s) => s.calls),
        perCall,
        instructions: mean,
        // The two segments of one run differ by GC and JIT timing only: their gap shows the noise.
        segmentSpread: (Math.max(...perCall) - Math.min(...perCall)) / mean,
      };
    });
    for (const row of rows) {
      const ref = rows.find((r) => r.group === row.group && r.ref && r.available);
      if (!row.available || row.ref || ref === undefined) continue;
      row.ratio = ref.instructions / row.instructions;
      row.extra = row.instructions - ref.instructions;
    }
    log(`  callgrind done in ${Math.round((Date.now() - started) / 1000)} s`);
    return {
      ...base,
      valgrind: version,
      note:
        `${version}, node ${NODE_FLAGS.join(' ')}; in-process, no network: each scenario ${sizes.hot.warm} (hot) or ` +
        `${sizes.coldWarm} (cold) warm-up calls, then two segments of ${sizes.hot.calls} (hot) or ${sizes.coldCalls} ` +
        '(cold, distinct tokens) calls between callgrind dumps; instructions/call = mean of the two, ' +
        '"segments differ" = their gap; x reference = reference / ours (higher is better). Counts include ' +
        "GC and V8's compiler; OpenSSL runs the code path it picks for valgrind's virtual CPU",
      rows,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
