// Command line and the sizes of every scenario, full and --quick.

const FULL = {
  quick: false,
  connections: 50,
  pipelining: 1,
  warmupSeconds: 3,
  rounds: 7,
  roundSeconds: 3,
  cold: { tokens: { RS256: 8000, ES256: 6000 }, warmupTokens: 1500, rounds: 7 },
  // 128 at a time: above the verifier's in-flight cap (32), within its queue (256).
  tokenreview: { burst: 1000, distinct: 2000, concurrency: 128, garbage: 100_000 },
  memory: { randomRequests: 1_000_000, validTokens: 100_000, checkpoints: 4 },
  // Calls per callgrind segment (about 50x slower than native under valgrind).
  instructions: {
    hot: { warm: 10_000, calls: 3000 },
    // 2,000 misses before counting: after 100, V8's optimizing compiler was still a quarter of a
    // cold segment (57k of the 205k instructions a miss spent over the crypto limit).
    coldWarm: 2000,
    coldCalls: 300,
    http: { warm: 5000, calls: 1000 },
  },
  attack: { seconds: 5, connections: 64, genuineRate: 200 },
};

const QUICK = {
  quick: true,
  connections: 50,
  pipelining: 1,
  warmupSeconds: 0.3,
  rounds: 3,
  roundSeconds: 0.5,
  cold: { tokens: { RS256: 1500, ES256: 1500 }, warmupTokens: 300, rounds: 3 },
  tokenreview: { burst: 1000, distinct: 200, concurrency: 128, garbage: 5000 },
  memory: { randomRequests: 50_000, validTokens: 5000, checkpoints: 2 },
  instructions: {
    hot: { warm: 3000, calls: 1000 },
    coldWarm: 30,
    coldCalls: 30,
    http: { warm: 50, calls: 20 },
  },
  attack: { seconds: 1, connections: 64, genuineRate: 100 },
};

export const SCENARIOS = [
  'express',
  'fastify',
  'koa',
  'node',
  'hono',
  'nestjs',
  'cold',
  'tokenreview',
  'memory',
  'attack',
  'instructions',
];

const HELP = `usage: pnpm bench [--quick] [--only=a,b] [--cpu-prof[=<row id>|all]] [--out=<file>] [--update-readme] [--strict]
  --quick          every scenario briefly (smoke test: about 10 minutes, 9 of them under callgrind)
  --only           scenarios to run: ${SCENARIOS.join(', ')}
  --cpu-prof       write V8 CPU profiles of the processes under test to bench/results/profiles/
                   (e.g. --cpu-prof=fastify/ours, --cpu-prof=cold/ours, --cpu-prof=all)
  --out            JSON results file (default bench/results/latest.json for a full run of every
                   scenario, else bench/results/quick.json or partial.json, which git ignores)
  --update-readme  replace the results section of bench/README.md with this run's table
  --strict         exit 1 when a target is missed (security failures always exit 1)`;

export function parseArgs(argv) {
  const args = {
    quick: false,
    only: SCENARIOS,
    cpuProf: null,
    out: null,
    updateReadme: false,
    strict: false,
  };
  for (const arg of argv) {
    if (arg === '--') continue;
    const [key, value] = arg.split(/=(.*)/s);
    if (key === '--quick') args.quick = true;
    else if (key === '--only') args.only = value.split(',').filter(Boolean);
    else if (key === '--cpu-prof') args.cpuProf = value || 'all';
    else if (key === '--out') args.out = value;
    else if (key === '--update-readme') args.updateReadme = true;
    else if (key === '--strict') args.strict = true;
    else if (key === '--help' || key === '-h') {
      console.log(HELP);
      process.exit(0);
    } else {
      console.error(`unknown argument ${arg}\n${HELP}`);
      process.exit(2);
    }
  }
  if (args.updateReadme && (args.quick || args.only.length !== SCENARIOS.length)) {
    console.error('--update-readme needs a full run of every scenario (no --quick, no --only)');
    process.exit(2);
  }
  for (const name of args.only) {
    if (!SCENARIOS.includes(name)) {
      console.error(`unknown scenario ${name}\n${HELP}`);
      process.exit(2);
    }
  }
  return { ...(args.quick ? QUICK : FULL), ...args };
}
