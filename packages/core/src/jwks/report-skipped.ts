import type { Logger } from '../logger.js';
import type { SkippedKey } from './import-jwk.js';

/**
 * Report the keys of a key set that were refused at import: to the logger when there is one,
 * else as a process warning (code `APISERVER_TOKEN_JWKS_KEY_SKIPPED`) so that a weak or
 * inconsistent key published by an issuer is never ignored silently. Each entry keeps its stable
 * `code` beside the message, for diagnostics.
 */
export function reportSkippedKeys(
  logger: Logger | undefined,
  label: string,
  skipped: readonly SkippedKey[],
): void {
  if (skipped.length === 0) return;
  const entries = skipped.map(({ kid, code, message }) => ({ kid, code, message }));
  if (logger !== undefined) {
    logger.warn({ jwks: label, skipped: entries }, 'apiserver-token: some keys were skipped');
    return;
  }
  process.emitWarning(
    `apiserver-token: ${label}: ${skipped.length} key(s) skipped: ${entries
      .map((entry) => `${entry.code} (${entry.message})`)
      .join('; ')}`,
    { code: 'APISERVER_TOKEN_JWKS_KEY_SKIPPED' },
  );
}
