// Summarizes a V8 .cpuprofile (from `pnpm bench --cpu-prof=…`): the functions with the most self
// time, and the total (inclusive) time of functions whose URL matches a filter.
//   node bench/src/profile-top.mjs <file.cpuprofile> [url-filter] [rows]
import { readFileSync } from 'node:fs';

const [file, filter = '', rowsArg = '30'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/src/profile-top.mjs <file.cpuprofile> [url-filter] [rows]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfCount = new Map();
for (const id of profile.samples) selfCount.set(id, (selfCount.get(id) ?? 0) + 1);
const total = profile.samples.length;
const idle = profile.nodes
  .filter((n) => ['(idle)', '(program)', '(garbage collector)'].includes(n.callFrame.functionName))
  .map((n) => [n.callFrame.functionName, selfCount.get(n.id) ?? 0]);

const name = (n) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url
    ? `${url.replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^.*\/(packages|bench)\//, '$1/')}:${lineNumber + 1}`
    : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
};

const self = new Map();
const inclusive = new Map();
for (const [id, count] of selfCount) {
  const key = name(byId.get(id));
  self.set(key, (self.get(key) ?? 0) + count);
  // Inclusive: every distinct frame on the stack, counted once per sample.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = name(byId.get(cur));
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + count);
  }
}
const pct = (c) => `${((100 * c) / total).toFixed(1).padStart(5)}%`;
console.log(`${total} samples; ${idle.map(([n, c]) => `${n} ${pct(c).trim()}`).join(', ')}`);
console.log('\nself time');
for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(rowsArg)))
  console.log(`${pct(c)}  ${k}`);
if (filter) {
  console.log(`\ninclusive time, frames matching "${filter}"`);
  for (const [k, c] of [...inclusive]
    .filter(([k]) => k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(rowsArg))) {
    console.log(`${pct(c)}  ${k}`);
  }
}
