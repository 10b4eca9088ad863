const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `1h`, `10m`, `90s`, `1h30m`, `500ms` or a bare number of seconds,
 * into milliseconds. Throws a `TypeError` naming the accepted forms.
 */
export function parseDuration(text: string): number {
  const value = text.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of value.matchAll(pattern)) {
    total += Number(match[1]) * (UNITS[match[2]!] ?? 0);
    consumed += match[0].length;
  }
  if (value === '' || consumed !== value.length) {
    throw new TypeError(
      `${JSON.stringify(text)} is not a duration (examples: 1h, 10m, 90s, 1h30m, 500ms, 3600)`,
    );
  }
  return Math.round(total);
}

/** `7m12s`, `3h`, `2d4h`: the two largest non-zero units of a duration in milliseconds. */
export function formatDuration(ms: number): string {
  let seconds = Math.floor(Math.abs(ms) / 1000);
  if (seconds === 0) return Math.abs(ms) < 1000 ? `${Math.abs(Math.round(ms))}ms` : '0s';
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const count = Math.floor(seconds / size);
    if (count > 0) parts.push(`${count}${unit}`);
    seconds -= count * size;
  }
  return parts.slice(0, 2).join('');
}

/** `in 7m12s` for a future instant, `3h ago` for a past one (both in ms since the epoch). */
export function relativeTime(at: number, now: number): string {
  const delta = at - now;
  return delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
}
