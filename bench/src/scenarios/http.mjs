// HTTP groups: each framework bare, with a no-op middleware (the two references), with ours and with
// the anchor libraries; one server process each, load from this process, rounds interleaved (A B C, C B A, ...).
import { AbortRun } from '../abort.mjs';
import { forgeSignature, tamperClaims } from '../forge.mjs';
import { loadRound, probe } from '../load.mjs';
import { spawnWorker } from '../rpc.mjs';
import { SUBJECT } from '../servers/noop.mjs';
import { pairedSpread, roundOrder, spread } from '../stats.mjs';

const SERVER = new URL('../servers/server.mjs', import.meta.url).pathname;

export { SUBJECT };

/**
 * Targets of our row in every group, on server CPU per request (the figure that moves least when
 * the machine is shared): against the framework with no middleware at all, and against a no-op
 * middleware that only sets the identity (the physical limit of any middleware).
 */
export const HTTP_TARGETS = { bare: 0.92, noop: 0.97 };

// Every group starts with these two reference rows: its ratios are taken against them.
const BARE = { variant: 'none', label: 'no auth (bare framework)', reference: 'bare' };

export const HTTP_GROUPS = [
  {
    id: 'express',
    title: 'Express 5',
    contestants: [
      BARE,
      { variant: 'noop', label: 'no-op middleware (sets req.apiserver)', reference: 'noop' },
      { variant: 'ours', label: '@apiserver-token/express (jwks, cached)', ours: true },
      { variant: 'express-oauth2-jwt-bearer', label: 'express-oauth2-jwt-bearer' },
      { variant: 'express-jwt', label: 'express-jwt + jwks-rsa' },
    ],
  },
  {
    id: 'fastify',
    title: 'Fastify 5',
    contestants: [
      BARE,
      {
        variant: 'noop',
        label: 'no-op plugin (decorateRequest + onRequest hook)',
        reference: 'noop',
      },
      { variant: 'ours', label: '@apiserver-token/fastify (jwks, cached)', ours: true },
      {
        variant: 'ours-metrics',
        label: '@apiserver-token/fastify, metrics on (prom-client)',
        costOf: 'ours',
      },
      { variant: 'fastify-jwt-cache', label: '@fastify/jwt + jwks-rsa, verify cache on' },
      { variant: 'fastify-jwt-nocache', label: '@fastify/jwt + jwks-rsa, verify cache off' },
    ],
  },
  {
    id: 'koa',
    title: 'Koa 3',
    contestants: [
      BARE,
      { variant: 'noop', label: 'no-op middleware (sets ctx.state.apiserver)', reference: 'noop' },
      { variant: 'ours', label: '@apiserver-token/koa (jwks, cached)', ours: true },
      { variant: 'koa-jwt', label: 'koa-jwt + jwks-rsa' },
    ],
  },
  // The newer adapters: no anchor library of their own (users of these would reach for jose).
  {
    id: 'node',
    title: 'node:http',
    contestants: [
      BARE,
      { variant: 'noop', label: 'no-op guard (async, sets req.apiserver)', reference: 'noop' },
      { variant: 'ours', label: '@apiserver-token/node (jwks, cached)', ours: true },
    ],
  },
  {
    id: 'hono',
    title: 'Hono 4 on @hono/node-server',
    contestants: [
      BARE,
      { variant: 'noop', label: 'no-op middleware (sets c.var.apiserver)', reference: 'noop' },
      { variant: 'ours', label: '@apiserver-token/hono (jwks, cached)', ours: true },
    ],
  },
  {
    id: 'nestjs',
    title: 'NestJS 11 (Express platform)',
    contestants: [
      BARE,
      { variant: 'noop', label: 'no-op guard + parameter decorator', reference: 'noop' },
      { variant: 'ours', label: '@apiserver-token/nestjs (jwks, cached)', ours: true },
    ],
  },
];

/**
 * Asserts, before any timing, that the server verifies for real: the valid token passes with the right
 * subject, and a wrong-signature token, a tampered token and no token are all refused. An anchor (or ours)
 * that accepts a forgery aborts the whole run. The reference rows (bare, no-op) verify nothing by
 * design: only their answer to the valid token is checked.
 */
export async function preflight(port, contestant, token, groupId) {
  const name = `${groupId}/${contestant.variant}`;
  const ok = await probe(port, token);
  const expected = contestant.reference === 'bare' ? 'ok' : SUBJECT;
  if (ok.status !== 200 || ok.body !== expected) {
    throw new AbortRun(
      `${name}: the valid token got HTTP ${ok.status} "${ok.body.slice(0, 80)}" (expected 200 ${expected})`,
    );
  }
  if (contestant.reference !== undefined) return { checked: [`valid token: 200 ${expected}`] };
  const checks = [
    ['wrong-signature token', forgeSignature(token)],
    ['tampered-claims token', tamperClaims(token)],
    ['no token', undefined],
  ];
  const checked = ['valid token: 200 with subject'];
  for (const [what, bad] of checks) {
    const res = await probe(port, bad);
    if (res.status >= 200 && res.status < 300) {
      throw new AbortRun(`${name} ACCEPTED A ${what.toUpperCase()} (HTTP ${res.status}); aborting the run`);
    }
    checked.push(`${what}: ${res.status}`);
  }
  return { checked };
}

export async function runHttpGroup(group, { settings, info, token, log }) {
  const rows = [];
  const live = [];
  try {
    // Start every server of the group at once (they idle until their turn), then check each one.
    const started = await Promise.all(
      group.contestants.map(async (contestant) => {
        const row = {
          id: `${group.id}/${contestant.variant}`,
          label: contestant.label,
          ours: !!contestant.ours,
          reference: contestant.reference,
          costOf: contestant.costOf,
          rounds: [],
        };
        rows.push(row);
        const profile = settings.cpuProf && (settings.cpuProf === 'all' || settings.cpuProf === row.id);
        const worker = spawnWorker(SERVER, {
          label: row.id,
          execArgv: profile
            ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${settings.profileDir}`]
            : [],
        });
        try {
          const { port } = await worker.call('start', {
            framework: group.id,
            variant: contestant.variant,
            info,
          });
          return { contestant, row, worker, port };
        } catch (err) {
          await worker.stop();
          if (err.code !== 'NOT_AVAILABLE') return { contestant, row, error: err };
          row.available = false;
          row.reason = err.message.replace(/^[^:]*: /, '');
          log(`  ${row.label}: not available (${row.reason})`);
          return { contestant, row };
        }
      }),
    );
    rows.sort((a, b) => started.findIndex((s) => s.row === a) - started.findIndex((s) => s.row === b));
    for (const s of started) if (s.worker) live.push(s);
    const failed = started.find((s) => s.error);
    if (failed) throw failed.error;
    for (const { contestant, row, port } of live) {
      row.available = true;
      row.preflight = (await preflight(port, contestant, token, group.id)).checked;
    }
    const load = { connections: settings.connections, pipelining: settings.pipelining, token };
    for (const { row, port } of live) {
      log(`  warm-up ${row.label}`);
      await loadRound({ ...load, port, seconds: settings.warmupSeconds });
    }
    for (let r = 0; r < settings.rounds; r++) {
      for (const { row, port, worker } of roundOrder(live, r)) {
        const cpuBefore = await worker.call('cpu');
        const result = await loadRound({ ...load, port, seconds: settings.roundSeconds });
        // Server CPU per request: far steadier than req/s when other processes share the machine.
        result.cpuUsPerRequest = ((await worker.call('cpu')) - cpuBefore) / result.requests;
        row.rounds.push(result);
        log(
          `  round ${r + 1}/${settings.rounds} ${row.label}: ${Math.round(result.rps)} req/s` +
            (result.non2xx || result.errors ? ` (${result.non2xx} non-2xx, ${result.errors} errors!)` : ''),
        );
      }
    }
    for (const { row, worker } of live) row.memory = await worker.call('memory');
  } finally {
    for (const { worker } of live) await worker.stop();
  }
  return summarize(group, rows);
}

/** CPU per request, as a ratio where higher is better (the reference's cost over the row's). */
const cpuRatio = (round, base) => base.cpuUsPerRequest / round.cpuUsPerRequest;
const rpsRatio = (round, base) => round.rps / base.rps;

function summarize(group, rows) {
  for (const row of rows) {
    if (!row.available) continue;
    row.rps = spread(row.rounds.map((r) => r.rps));
    row.p50ms = spread(row.rounds.map((r) => r.p50ms)).median;
    row.p99ms = spread(row.rounds.map((r) => r.p99ms)).median;
    row.cpuUsPerRequest = spread(row.rounds.map((r) => r.cpuUsPerRequest));
    row.failedResponses = row.rounds.reduce((n, r) => n + r.non2xx + r.errors, 0);
  }
  const bare = rows.find((r) => r.reference === 'bare' && r.available);
  const noop = rows.find((r) => r.reference === 'noop' && r.available);
  for (const row of rows) {
    if (!row.available) continue;
    // Paired per round against each reference: x bare and x no-op, in req/s and in CPU per request.
    row.vs = {};
    for (const [name, ref] of [
      ['bare', bare],
      ['noop', noop],
    ]) {
      if (ref === undefined) continue;
      row.vs[name] = {
        rps: pairedSpread(row.rounds, ref.rounds, rpsRatio),
        cpu: pairedSpread(row.rounds, ref.rounds, cpuRatio),
      };
    }
    // Kept for readers of older result files: req/s and CPU against the bare framework.
    row.ratio = row.vs.bare?.rps.median;
    row.cpuRatio = row.vs.bare?.cpu.median;
    const base =
      row.costOf === undefined ? undefined : rows.find((r) => r.id === `${group.id}/${row.costOf}`);
    if (base !== undefined && base.rounds.length > 0) {
      // An option's cost: this row's CPU per request against the same server without it, paired per round.
      row.vs[row.costOf] = { cpu: pairedSpread(row.rounds, base.rounds, cpuRatio) };
      const cost = row.cpuUsPerRequest.median - base.cpuUsPerRequest.median;
      row.verdict = `${row.vs[row.costOf].cpu.median.toFixed(2)}x ${row.costOf} (CPU), ${cost >= 0 ? '+' : ''}${cost.toFixed(1)} µs/req`;
    }
    if (row.ours) {
      row.targets = HTTP_TARGETS;
      const missed = Object.entries(HTTP_TARGETS)
        .filter(([name, target]) => row.vs[name] !== undefined && row.vs[name].cpu.median < target)
        .map(
          ([name, target]) =>
            `${row.vs[name].cpu.median.toFixed(3)}x < ${target}x ${name === 'noop' ? 'no-op' : name}`,
        );
      row.verdict =
        row.failedResponses > 0
          ? 'FAIL'
          : missed.length === 0
            ? 'ok'
            : `below target (CPU ${missed.join(', ')})`;
    } else if (row.failedResponses > 0) {
      row.verdict = 'FAIL';
    }
  }
  return { kind: 'http', id: group.id, title: group.title, rows };
}
