// Instructions per request counted by valgrind (callgrind): a figure that does not move with the
// machine's load, for the in-process hot path (ours vs a no-op middleware per framework) and the
// cold path (ours vs a bare crypto.verify loop). Skipped, with the reason, when valgrind is absent.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintMany } from '../kit.mjs';
import { spawnWorker } from '../rpc.mjs';

const WORKER = new URL('../workers/instructions.mjs', import.meta.url).pathname;
const SERVER = new URL('../servers/server.mjs', import.meta.url).pathname;
/** Where the dump of each row's second segment is kept, for bench/src/callgrind-top.mjs. */
const KEEP = new URL('../../results/callgrind/', import.meta.url).pathname;
// os.freemem() ends in uv_get_free_memory, which nothing else calls: the worker's segment marker.
const MARKER = 'uv_get_free_memory';
// Deterministic V8: no background compiler or GC threads, fixed seeds.
// No GC is ever forced before a segment: under --single-threaded one made V8 compile the code
// under test again inside the segment that followed.
const NODE_FLAGS = ['--single-threaded', '--hash-seed=1', '--random-seed=1'];

/** `valgrind --version`, or undefined when valgrind cannot run here. */
export function valgrindVersion() {
  const result = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.trim();
}

/** The HTTP groups counted under callgrind, with their titles. */
const HTTP_FRAMEWORKS = {
  express: 'Express',
  fastify: 'Fastify',
  koa: 'Koa',
  node: 'node:http',
  hono: 'Hono',
  nestjs: 'NestJS',
};

const HTTP_ROWS = Object.keys(HTTP_FRAMEWORKS).flatMap((framework) =>
  [
    ['none', 'bare framework', true],
    ['noop', 'no-op middleware'],
    ['ours', `@apiserver-token/${framework}`],
  ].map(([variant, label, ref]) => ({
    group: `${HTTP_FRAMEWORKS[framework]} over HTTP, server side`,
    id: `http/${framework}/${variant}`,
    framework,
    variant,
    label,
    ref: !!ref,
  })),
);

const ROWS = [
  { group: 'Express middleware, cache hit', id: 'hot/express/noop', label: 'no-op middleware', ref: true },
  { group: 'Express middleware, cache hit', id: 'hot/express/ours', label: '@apiserver-token/express' },
  { group: 'Fastify onRequest hook, cache hit', id: 'hot/fastify/noop', label: 'no-op hook', ref: true },
  { group: 'Fastify onRequest hook, cache hit', id: 'hot/fastify/ours', label: '@apiserver-token/fastify' },
  { group: 'Koa middleware, cache hit', id: 'hot/koa/noop', label: 'no-op middleware', ref: true },
  { group: 'Koa middleware, cache hit', id: 'hot/koa/ours', label: '@apiserver-token/koa' },
  {
    group: 'core verify(), cache hit',
    id: 'hot/hash',
    label: 'SHA-256 of secret ‖ token alone (the cache key)',
    ref: true,
  },
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

/** Sequential GETs over one keep-alive connection: one request in flight, so each costs the same. */
async function sequentialRequests(port, token, count, agent) {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: '/', agent, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode} under callgrind`)),
          );
        },
      );
      req.on('error', reject);
    });
  }
}

/**
 * Each server (a framework bare, with the no-op, with ours) in a node of its own under callgrind,
 * driven over HTTP from here; the server marks a dump before and after each segment of sequential
 * requests. One node per server, as the timed groups run them: servers sharing a node made node's
 * own HTTP and stream functions deoptimize as each started (different request shapes), and the
 * compilation that followed landed in the next server's segments.
 */
async function runHttp({ settings, info, token, log, dir }) {
  const sizes = settings.instructions.http;
  const segments = [];
  for (const row of HTTP_ROWS) {
    const { framework, variant } = row;
    const out = join(dir, `http-${framework}-${variant}.out`);
    const worker = spawnWorker(SERVER, {
      label: `callgrind/${framework}/${variant}`,
      execPath: 'valgrind',
      execArgv: [
        '--tool=callgrind',
        `--dump-before=${MARKER}`,
        `--callgrind-out-file=${out}`,
        // Names written out in every dump: a kept segment is then readable on its own.
        '--compress-strings=no',
        '--log-file=/dev/null',
        process.execPath,
        ...NODE_FLAGS,
      ],
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let marks = 0;
    const mark = async () => {
      await worker.call('mark');
      marks += 1;
      return marks;
    };
    try {
      log(`  ${framework}/${variant} under callgrind`);
      const { port } = await worker.call('start', { framework, variant, info, keepAliveTimeoutMs: 600_000 });
      await sequentialRequests(port, token, sizes.warm, agent);
      for (let k = 0; k < 2; k++) {
        // No full GC before an HTTP segment: under --single-threaded V8 one made the server compile
        // its request path again in the segment that followed (over half of every segment was
        // the optimizing compiler, the bare framework's too).
        await mark();
        await sequentialRequests(port, token, sizes.calls, agent);
        segments.push({ id: row.id, file: `${out}.${await mark()}`, calls: sizes.calls });
      }
    } finally {
      agent.destroy();
      await worker.stop();
    }
  }
  return segments;
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

export async function runInstructions({ settings, api, info: timedInfo, token, log }) {
  // Everything runs about 50x slower under valgrind: give the JWKS fetches time.
  const info = { ...timedInfo, jwksTimeoutMs: 120_000 };
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
      rows: [...HTTP_ROWS, ...ROWS].map((r) => ({
        ...r,
        available: false,
        reason: 'valgrind not installed',
      })),
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
        '--compress-strings=no',
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
        rows: [...HTTP_ROWS, ...ROWS].map((r) => ({ ...r, available: false, reason: parsed.unavailable })),
      };
    }
    const parts = readParts(dir);
    const segmentsOf = new Map();
    for (const seg of parsed.segments) {
      const list = segmentsOf.get(seg.id) ?? [];
      list.push({ file: join(dir, `cg.out.${seg.part}`), count: parts.get(seg.part), calls: seg.calls });
      segmentsOf.set(seg.id, list);
    }
    let httpFailure;
    if (settings.instructions.http.calls > 0) {
      let httpSegments = [];
      try {
        httpSegments = await runHttp({ settings, info, token, log, dir });
      } catch (err) {
        // The in-process counts stand on their own: report the HTTP rows as failed, with why.
        httpFailure = err.message;
        log(`  callgrind over HTTP failed: ${httpFailure}`);
      }
      for (const seg of httpSegments) {
        const list = segmentsOf.get(seg.id) ?? [];
        const summary = /^summary: (\d+)$/m.exec(readFileSync(seg.file, 'utf8'));
        list.push({ file: seg.file, count: summary ? Number(summary[1]) : Number.NaN, calls: seg.calls });
        segmentsOf.set(seg.id, list);
      }
    }
    rmSync(KEEP, { recursive: true, force: true });
    mkdirSync(KEEP, { recursive: true });
    const rows = [...HTTP_ROWS, ...ROWS].map((r) => {
      const segments = segmentsOf.get(r.id) ?? [];
      const perCall = segments.map((s) => s.count / s.calls);
      if (segments.length > 0)
        copyFileSync(segments.at(-1).file, join(KEEP, `${r.id.replaceAll('/', '_')}.out`));
      if (segments.length === 0 || perCall.some((v) => !Number.isFinite(v)))
        return { ...r, available: false, reason: (r.framework && httpFailure) || 'no count' };
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
      // Over HTTP, ours also against the no-op middleware: the targets' second reference.
      const noop = rows.find((r) => r.group === row.group && r.variant === 'noop' && r.available);
      if (noop !== undefined && row !== noop) {
        row.noopRatio = noop.instructions / row.instructions;
        row.overNoop = row.instructions - noop.instructions;
      }
    }
    log(`  callgrind done in ${Math.round((Date.now() - started) / 1000)} s`);
    return {
      ...base,
      valgrind: version,
      note:
        `${version}, node ${NODE_FLAGS.join(' ')}. Over HTTP: each server (bare, no-op, ours) in a node of its own under ` +
        `callgrind, ${sizes.http.warm} warm-up requests each, then two segments of ${sizes.http.calls} sequential ` +
        'keep-alive requests, no GC forced (the server side counted: parsing, framework, middleware, response). In-process, no ' +
        `network: each scenario ${sizes.hot.warm} (hot) or ` +
        `${sizes.coldWarm} (cold) warm-up calls, then two segments of ${sizes.hot.calls} (hot) or ${sizes.coldCalls} ` +
        '(cold, distinct tokens) calls between callgrind dumps, no GC forced; instructions/call = mean of the two, ' +
        '"segments differ" = their gap; x reference = reference / ours (higher is better). Counts include ' +
        "GC and V8's compiler; OpenSSL runs the code path it picks for valgrind's virtual CPU (no SHA " +
        "extensions: hashing weighs more than on most hardware). Each row's second segment is kept as " +
        'bench/results/callgrind/<row>.out for bench/src/callgrind-top.mjs',
      rows,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
