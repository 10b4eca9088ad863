/**
 * The logger the verifier reports to: pino-compatible, called pino-style `(object, message)`.
 * It receives the precise reason of each rejection and the token's fingerprint, never the token.
 */
export interface Logger {
  debug(object: Record<string, unknown>, message: string): void;
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/** Internal: a logger that never throws, whatever the user's logger does. */
export function safeLogger(logger: Logger | undefined): Logger | undefined {
  if (logger === undefined) return undefined;
  const call =
    (level: keyof Logger) =>
    (object: Record<string, unknown>, message: string): void => {
      try {
        logger[level](object, message);
      } catch {
        // A failing logger must not turn a verdict into a 500.
      }
    };
  return { debug: call('debug'), info: call('info'), warn: call('warn'), error: call('error') };
}

/**
 * Internal: marks a verifier that logs each verdict itself (it was given a `logger`), so that the
 * HTTP layer does not log the same request twice through the framework's logger. A registered
 * symbol, so that the ESM and CommonJS builds of core recognise each other's verifiers.
 */
export const LOGS_VERDICTS: unique symbol = Symbol.for('@apiserver-token/core.logsVerdicts') as never;

/** Internal: true when `verifier` was made with a `logger` (see {@link LOGS_VERDICTS}). */
export function logsVerdicts(verifier: object): boolean {
  return (verifier as { [LOGS_VERDICTS]?: unknown })[LOGS_VERDICTS] === true;
}

/** What a rejection log line reads from the error. */
export interface LoggedRejection {
  code: string;
  status: number;
  message: string;
  retryAfter?: number | undefined;
}

/**
 * Internal: the one line logged for a refused request, by the verifier (with a `logger`) or by
 * the HTTP layer (through the framework's request logger). Levels: a forged or wrong token is
 * `info` (the caller's problem, not ours; so is a refusal at `maxVerificationsPerSecond`), a token
 * that cannot be verified now is `warn`, and a
 * request observe mode lets through is `warn` (it would have been refused).
 */
export function logRejection(
  logger: Logger,
  error: LoggedRejection,
  fingerprint: string | undefined,
  enforcing: boolean,
): void {
  const object: Record<string, unknown> = { code: error.code, status: error.status, reason: error.message };
  if (fingerprint !== undefined) object.fingerprint = fingerprint;
  if (error.retryAfter !== undefined) object.retryAfter = error.retryAfter;
  if (!enforcing) {
    object.enforcing = false;
    logger.warn(
      object,
      'apiserver-token: observe mode: request let through, enforcing would have refused it',
    );
    // A refusal at maxVerificationsPerSecond is a flood's, like a forged token's: `info`, one line
    // each; the APISERVER_TOKEN_VERIFICATIONS_THROTTLED warning sums them up once a minute.
  } else if (error.status === 503 && error.code !== 'verification_throttled') {
    logger.warn(object, 'apiserver-token: cannot verify the token');
  } else logger.info(object, 'apiserver-token: request rejected');
}
