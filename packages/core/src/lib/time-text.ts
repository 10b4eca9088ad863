/**
 * Times in messages read as a person reads them: a JWT NumericDate as an ISO 8601 date, a span of
 * seconds as `1h2m3s`. Claims are the token's (anyone's), so a date too large for `Date` is shown
 * as the number it is rather than throwing.
 */

/** `1796104472` → `2026-12-01T05:54:32Z`; a value outside `Date`'s range stays a number. */
export function dateText(numericDate: number): string {
  const date = new Date(numericDate * 1000);
  if (Number.isNaN(date.getTime())) return String(numericDate);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `3601` → `1h0m1s`, `42` → `42s`; rounded to whole seconds, never negative. */
export function durationText(seconds: number): string {
  let rest = Math.max(0, Math.round(seconds));
  if (!Number.isFinite(rest)) return `${seconds} s`;
  const days = Math.floor(rest / 86_400);
  rest -= days * 86_400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest - minutes * 60;
  if (days > 0) return `${days}d${hours}h${minutes}m${secs}s`;
  if (hours > 0) return `${hours}h${minutes}m${secs}s`;
  if (minutes > 0) return `${minutes}m${secs}s`;
  return `${secs}s`;
}
