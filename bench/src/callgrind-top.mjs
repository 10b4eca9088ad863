// Self cost per function in one callgrind dump (a row's segment kept by `--only=instructions` in
// bench/results/callgrind/), per call, grouped into what a request spends it on; with --vs, the
// difference from a reference row's dump (e.g. ours minus the crypto limit).
//   node bench/src/callgrind-top.mjs <dump> [--vs=<reference dump>] [--calls=N] [--rows=N]
// `callgrind_annotate` 3.19 folds a segment dumped with --dump-before into its caller
// (__libc_start_main): this reads the dump's own cost lines instead.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const found = args.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const [file] = args.filter((a) => !a.startsWith('--'));
if (file === undefined) {
  console.error('usage: node bench/src/callgrind-top.mjs <dump> [--vs=<dump>] [--calls=N] [--rows=N]');
  process.exit(2);
}

/** Self cost by function (`name [object]`), and the total, of one uncompressed dump. */
function selfCost(path) {
  const text = readFileSync(path, 'utf8');
  if (/^fn=\(\d+\)/m.test(text)) {
    console.error(`${path}: names are compressed (a dump from before --compress-strings=no); rerun the row`);
    process.exit(2);
  }
  const costs = new Map();
  let object = '?';
  let fn = '?';
  let callCost = false;
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('ob=')) object = line.slice(3).split('/').pop();
    else if (line.startsWith('fn=')) fn = `${line.slice(3)} [${object}]`;
    else if (line.startsWith('calls='))
      callCost = true; // the next cost line is the callee's, inclusive
    else if (/^[0-9+\-*]/.test(line)) {
      if (callCost) {
        callCost = false;
        continue;
      }
      const cost = Number(line.trim().split(/\s+/)[1] ?? 0);
      if (!Number.isFinite(cost)) continue;
      costs.set(fn, (costs.get(fn) ?? 0) + cost);
      total += cost;
    }
  }
  return { costs, total };
}

// Where the instructions go, by function name: first match wins.
const GROUPS = [
  ['SHA-256 blocks', /sha256_block|sha512_block/],
  ['bignum (RSA/EC arithmetic)', /^(bn_|BN_|ecp_nistz256|ecp_|p256_)/],
  ['JSON.parse', /JsonParser/],
  [
    'garbage collection',
    /Scaveng|Evacuat|Pretenur|ScavengeVisitor|MarkCompact|Sweeper|ShouldBePromoted|SizeFromMap|IteratePointers|BodyDescriptor|Heap::|heap::|ConcurrentMarking|Marking/,
  ],
  ['optimizing compiler', /compiler::|maglev::|Turbofan/],
  ['JIT-compiled JavaScript', /^0x[0-9a-f]+ \[/],
  ['builtins (ICs, calls, objects)', /^Builtins_/],
  ['V8 runtime (objects, strings, freeze)', /v8::|Builtin_/],
  ['OpenSSL (besides hash and bignum)', /OPENSSL|ossl_|EVP_|RSA_|ECDSA|do_name|CRYPTO_|OSSL_|ERR_/],
  ['allocator (malloc/free)', /^(malloc|free|_int_malloc|_int_free|calloc|realloc)/],
];
const groupOf = (name) => GROUPS.find(([, pattern]) => pattern.test(name))?.[0] ?? 'everything else';

const calls = Number(option('calls', '1'));
const rows = Number(option('rows', '25'));
const reference = option('vs', undefined);
const row = selfCost(file);
const base = reference === undefined ? { costs: new Map(), total: 0 } : selfCost(reference);
const names = new Set([...row.costs.keys(), ...base.costs.keys()]);
const delta = [...names].map((name) => [
  name,
  ((row.costs.get(name) ?? 0) - (base.costs.get(name) ?? 0)) / calls,
]);
const byGroup = new Map();
for (const [name, cost] of delta) byGroup.set(groupOf(name), (byGroup.get(groupOf(name)) ?? 0) + cost);

const k = (n) => `${(n / 1000).toFixed(1)}k`.padStart(9);
const what = reference === undefined ? 'per call' : 'per call, minus the reference';
console.log(`${file}: ${k((row.total - base.total) / calls).trim()} instructions ${what} (${calls} calls)`);
console.log('\nby group');
for (const [group, cost] of [...byGroup].sort((a, b) => b[1] - a[1])) console.log(`${k(cost)}  ${group}`);
console.log('\nby function');
for (const [name, cost] of delta.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, rows))
  console.log(`${k(cost)}  ${name.slice(0, 140)}`);
