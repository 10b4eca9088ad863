import { ApiserverTokenConfigError } from '../errors.js';

/** Prefix of every environment variable the verifier reads. */
export const ENV_PREFIX = 'APISERVER_TOKEN_';

type Env = Readonly<Record<string, string | undefined>>;

/** A variable's value, trimmed; undefined when unset or blank. */
export function envString(env: Env, name: string): string | undefined {
  const value = env[ENV_PREFIX + name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** A comma-separated list, blanks dropped. */
export function envList(env: Env, name: string): string[] | undefined {
  const value = envString(env, name);
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return list.length === 0 ? undefined : list;
}

/** A non-negative number. */
export function envNumber(env: Env, name: string): number | undefined {
  const value = envString(env, name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) {
    throw new ApiserverTokenConfigError(
      ENV_PREFIX + name,
      `must be a non-negative number, got ${JSON.stringify(value)}`,
    );
  }
  return number;
}

/** `true`/`false` (also `1`/`0`, `yes`/`no`). */
export function envBoolean(env: Env, name: string): boolean | undefined {
  const value = envString(env, name)?.toLowerCase();
  if (value === undefined) return undefined;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new ApiserverTokenConfigError(
    ENV_PREFIX + name,
    `must be true or false, got ${JSON.stringify(value)}`,
  );
}
