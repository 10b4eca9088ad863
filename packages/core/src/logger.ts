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
