// The results table, as terminal text and as Markdown, from the sections the scenarios return.

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (n) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '—');
const us = (n) => (Number.isFinite(n) ? (n < 100 ? n.toFixed(1) : Math.round(n).toString()) : '—');
const ratio = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '—');
const range = (s) => `${int(s.median)} (${int(s.min)}–${int(s.max)})`;
const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)}` : '—');

const ratioSpread = (s) =>
  s === undefined ? '—' : `${ratio(s.median)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
const signed = (n) => (n === undefined ? '' : `${n >= 0 ? '+' : ''}${int(n)}`);
const usRange = (s) => `${us(s.median)} (${us(s.min)}–${us(s.max)})`;

function verdictOf(row) {
  if (row.available === false) return 'not available';
  if (!row.verdict) return '';
  if (row.targets && row.verdict === 'ok')
    return `ok (targets ${Object.entries(row.targets)
      .map(([name, t]) => `${t}x ${name === 'noop' ? 'no-op' : name}`)
      .join(', ')})`;
  if (!row.target) return row.verdict;
  if (row.verdict.startsWith('below target'))
    return `${row.verdict} (${row.ratio.toFixed(3)}x < ${row.target}x)`;
  return `${row.verdict} (target ${row.target}x)`;
}

/** Each section as `{ title, note, head, rows }` of plain strings. */
export function tables(sections) {
  return sections.map((section) => {
    if (section.kind === 'http') {
      return {
        title: `${section.title}: server CPU per request and requests/s over HTTP`,
        note: section.note,
        head: [
          'server',
          'CPU µs/req median (min–max)',
          'x bare (CPU)',
          'x no-op (CPU)',
          'req/s median (min–max)',
          'x bare (req/s)',
          'x no-op (req/s)',
          'p50 ms',
          'p99 ms',
          'verdict',
        ],
        rows: section.rows.map((r) =>
          r.available === false
            ? [r.label, 'not available', '', '', '', '', '', '', '', r.reason]
            : [
                r.label,
                usRange(r.cpuUsPerRequest),
                r.reference === 'bare' ? 'ref' : ratioSpread(r.vs?.bare?.cpu),
                r.reference === 'noop' ? 'ref' : ratioSpread(r.vs?.noop?.cpu),
                range(r.rps),
                r.reference === 'bare' ? 'ref' : ratioSpread(r.vs?.bare?.rps),
                r.reference === 'noop' ? 'ref' : ratioSpread(r.vs?.noop?.rps),
                ms(r.p50ms),
                ms(r.p99ms),
                verdictOf(r),
              ],
        ),
      };
    }
    if (section.kind === 'cold') {
      return {
        title: `Cold verification ${section.alg}: distinct valid tokens, no cache hits`,
        note: section.note,
        head: [
          'verifier',
          'verifications/s median (min–max)',
          'p50 µs',
          'p99 µs',
          'x crypto limit',
          'verdict',
        ],
        rows: section.rows.map((r) =>
          r.available === false
            ? [r.label, 'not available', '', '', '', r.reason]
            : [r.label, range(r.rate), us(r.p50us), us(r.p99us), ratio(r.ratio), verdictOf(r)],
        ),
      };
    }
    if (section.kind === 'tokenreview') {
      return {
        title: 'TokenReview mode: calls to the apiserver',
        note: section.note,
        head: ['scenario', 'requests', 'TokenReviews', 'req/s', 'p50 ms', 'p99 ms', 'verdict'],
        rows: section.rows.map((r) =>
          r.available === false
            ? [r.label, '', '', '', '', '', `not available: ${r.reason}`]
            : [
                r.label,
                int(r.requests),
                int(r.tokenReviews),
                int(r.rate),
                ms(r.p50ms),
                ms(r.p99ms),
                verdictOf(r),
              ],
        ),
      };
    }
    if (section.kind === 'memory') {
      return {
        title: 'Memory: heap and RSS (MiB, after GC)',
        note: section.note,
        head: [
          'scenario',
          'calls',
          'heap before',
          'heap after',
          'heap max',
          'RSS before',
          'RSS after',
          'verdict',
        ],
        rows: section.rows.map((r) =>
          r.available === false
            ? [r.label, '', '', '', '', '', '', `not available: ${r.reason}`]
            : [
                r.label,
                int(r.calls),
                mib(r.before.heapUsed),
                mib(r.after.heapUsed),
                mib(Math.max(...r.checkpoints.map((c) => c.heapUsed))),
                mib(r.before.rss),
                mib(r.after.rss),
                verdictOf(r),
              ],
        ),
      };
    }
    if (section.kind === 'attack') {
      const pct = (n) => (Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : '');
      return {
        title: section.title,
        note: section.note,
        head: [
          'server',
          'scenario',
          'forged offered/s',
          'forged answered/s',
          'CPU µs per forged',
          'forged 503',
          'genuine ok',
          'genuine p50 ms',
          'genuine p99 ms',
        ],
        rows: section.rows.map((r) => [
          r.server,
          r.label,
          r.forgedOffered === undefined ? '' : int(r.forgedOffered),
          r.forgedAnswered === undefined ? '' : int(r.forgedAnswered),
          r.forgedCpuUs === undefined ? '' : us(r.forgedCpuUs),
          r.forgedUnavailable === undefined ? '' : pct(r.forgedUnavailable),
          r.genuine ? `${pct(r.genuineOkRate)} of ${int(r.genuine.sent)}` : '',
          r.genuine ? ms(r.genuine.p50ms) : '',
          r.genuine ? ms(r.genuine.p99ms) : '',
        ]),
      };
    }
    if (section.kind === 'instructions') {
      return {
        title: 'Instructions per request (valgrind callgrind): deterministic, whatever the load',
        note: section.note,
        head: [
          'scenario',
          'code',
          'instructions/call',
          'segments differ',
          'x reference',
          'over reference',
          'x no-op',
          'over no-op',
        ],
        rows: section.rows.map((r) =>
          r.available === false
            ? [r.group, r.label, 'not available', '', '', '', '', r.reason]
            : [
                r.group,
                r.ref ? `${r.label} (reference)` : r.label,
                int(r.instructions),
                `${(r.segmentSpread * 100).toFixed(2)} %`,
                r.ratio === undefined ? '' : `${r.ratio.toFixed(3)}x`,
                signed(r.extra),
                r.noopRatio === undefined ? '' : `${r.noopRatio.toFixed(3)}x`,
                signed(r.overNoop),
              ],
        ),
      };
    }
    throw new Error(`unknown section kind ${section.kind}`);
  });
}

export function renderText(sections) {
  const out = [];
  for (const t of tables(sections)) {
    const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => String(r[i]).length)));
    const line = (cells) =>
      cells
        .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
        .join('  ')
        .trimEnd();
    out.push('', t.title);
    if (t.note) out.push(`  ${t.note}`);
    out.push(line(t.head), widths.map((w) => '-'.repeat(w)).join('  '));
    for (const row of t.rows) out.push(line(row));
  }
  return out.join('\n');
}

export function renderMarkdown(sections) {
  const out = [];
  for (const t of tables(sections)) {
    out.push(`**${t.title}**`, '');
    if (t.note) out.push(`_${t.note}_`, '');
    out.push(
      `| ${t.head.join(' | ')} |`,
      `|${t.head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    );
    for (const row of t.rows) out.push(`| ${row.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`);
    out.push('');
  }
  return out.join('\n');
}
