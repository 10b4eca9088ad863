import { ApiserverTokenConfigError } from '../errors.js';

/**
 * Edit distance with adjacent transpositions (optimal string alignment), case-insensitive:
 * `clockTolerence` is 1 from `clockTolerance`, `loger` 1 from `logger`.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const rows: number[][] = [];
  for (let i = 0; i <= s.length; i++) rows.push([i]);
  for (let j = 1; j <= t.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= s.length; i++) {
    const row = rows[i] as number[];
    const above = rows[i - 1] as number[];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (rows[s.length] as number[])[t.length] as number;
}

/** The known name closest to `name`, when close enough to be a typo of it. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // Short names tolerate one edit, longer ones about a third of their length.
  const allowed = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  return bestDistance <= allowed ? best : undefined;
}

/**
 * Refuses every own key of `value` that is not in `known`, naming the field and what was meant:
 * an entry of `hints` (options that live elsewhere, e.g. `allowedServiceAccounts` →
 * `policy.serviceAccounts`), else the closest known name, else the list of known names. A
 * misspelt option is never ignored: `allowedServiceAccounts` silently dropped would leave a
 * webhook open to every service account of the cluster.
 *
 * @param prefix the field path of `value` (`''` at the top level, `'policy'`, `'issuers[0].jwks'`).
 * @throws ApiserverTokenConfigError naming the first unknown key.
 */
export function assertKnownKeys(
  value: object,
  known: readonly string[],
  prefix: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const field = prefix === '' ? key : `${prefix}.${key}`;
    const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
    if (hint !== undefined) throw new ApiserverTokenConfigError(field, `unknown option: ${hint}`);
    const near = closest(key, known);
    const where = prefix === '' ? '' : `${prefix}.`;
    throw new ApiserverTokenConfigError(
      field,
      near === undefined
        ? `unknown option (known: ${known.join(', ')})`
        : `unknown option: did you mean \`${where}${near}\`?`,
    );
  }
}
