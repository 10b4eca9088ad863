import { CliError } from './exit-codes.js';

/** `--at`: RFC 3339 / ISO 8601, or seconds since the epoch. Returns ms since the epoch. */
export function parseTime(value: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    throw new CliError(
      `--at ${JSON.stringify(value)}: expected a time such as 2026-12-01T04:20:56Z or seconds since the epoch`,
    );
  }
  return parsed;
}
