/** Exponential backoff with jitter, as Kubernetes' `wait.Backoff` (duration, factor, jitter, cap). */
export interface BackoffSettings {
  /** First delay, in milliseconds. */
  initial: number;
  /** Multiplier applied after each attempt. */
  factor: number;
  /** Up to this fraction of the delay is added at random (0 = none). */
  jitter: number;
  /** Largest delay, in milliseconds, before jitter. */
  max: number;
}

/**
 * The delay before retry number `retry` (0 for the first retry): `initial * factor^retry`,
 * capped at `max`, plus `random() * jitter` of itself (Kubernetes' `wait.Jitter`).
 */
export function backoffDelay(
  retry: number,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  const base = Math.min(settings.max, settings.initial * settings.factor ** retry);
  return base + base * settings.jitter * random();
}

/**
 * A `Retry-After` header value (delta-seconds or an HTTP-date) in milliseconds from `nowMs`,
 * or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date ends in GMT (RFC 9110 §5.6.7); anything else Date.parse would guess at.
  if (!/^[A-Za-z]{3},? .* GMT$/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
