import type { Logger } from '../../src/index.js';

export interface LogCall {
  level: 'debug' | 'info' | 'warn' | 'error';
  object: Record<string, unknown>;
  message: string;
}

/** A pino-shaped logger that records every call. */
export function recordingLogger(): Logger & { calls: LogCall[]; count(message: string): number } {
  const calls: LogCall[] = [];
  const at =
    (level: LogCall['level']) =>
    (object: Record<string, unknown>, message: string): void => {
      calls.push({ level, object, message });
    };
  return {
    calls,
    count: (message) => calls.filter((call) => call.message.includes(message)).length,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}
