import type { RequestLike } from '../contracts/verifier.js';
import type { ApiserverIdentity } from '../identity.js';
import { tokenFingerprint } from '../jwt/fingerprint.js';
import { type Logger, logRejection } from '../logger.js';
import { readBearerToken } from '../verifier/extract.js';
import { recognizeError } from './recognize-error.js';

/** A request-scoped pino-style logger; pino's `isLevelEnabled` spares building a line nobody reads. */
export type RequestLogger = Logger & { isLevelEnabled?: (level: string) => boolean };

/** Codes of failures before a well-formed token was read: there is no token to fingerprint. */
const NO_TOKEN = new Set(['missing_token', 'malformed_authorization', 'token_too_large']);

/**
 * The framework's logger for this request, by the convention pino's integrations share: Fastify's
 * `request.log`, pino-http's `req.log` (Express, node:http), koa-pino-logger's `ctx.log`. Lines
 * logged through it carry what the framework binds to the request (Fastify's `reqId`, pino-http's
 * `req.id`). Undefined when the request has none.
 */
export function requestLoggerOf(original: unknown): RequestLogger | undefined {
  if (typeof original !== 'object' || original === null) return undefined;
  return asRequestLogger((original as { log?: unknown }).log);
}

/**
 * pino-http's logger for this request, where {@link requestLoggerOf} may see another: pino-http
 * keeps a `log` already set (on Fastify, @fastify/middie sets the raw request's `log` to
 * Fastify's) and appends its own to `allLogs`, which is what nestjs-pino binds to the request.
 * A framework request wrapping Node's (`raw`, Fastify's) is looked at through it first. Falls
 * back to `log` (Fastify's `request.log`).
 */
export function pinoHttpLoggerOf(original: unknown): RequestLogger | undefined {
  if (typeof original !== 'object' || original === null) return undefined;
  const raw = (original as { raw?: unknown }).raw;
  return lastLoggerOf(raw) ?? requestLoggerOf(raw) ?? lastLoggerOf(original) ?? requestLoggerOf(original);
}

/** The last of pino-http's `allLogs` on `request`, if any. */
function lastLoggerOf(request: unknown): RequestLogger | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const all = (request as { allLogs?: unknown }).allLogs;
  return Array.isArray(all) ? asRequestLogger(all[all.length - 1]) : undefined;
}

/** `log` when it is a pino-style logger (debug/info/warn/error methods), else undefined. */
export function asRequestLogger(log: unknown): RequestLogger | undefined {
  if (typeof log !== 'object' || log === null) return undefined;
  const candidate = log as Partial<Record<keyof Logger, unknown>>;
  return typeof candidate.debug === 'function' &&
    typeof candidate.info === 'function' &&
    typeof candidate.warn === 'function' &&
    typeof candidate.error === 'function'
    ? (log as RequestLogger)
    : undefined;
}

/**
 * An application's pino-style logger (Fastify's `fastify.log`) as the sink of operator
 * diagnostics, or undefined when it would not print them: a disabled logger (Fastify's
 * `logger: false` is a no-op object with no `level`), `level: 'silent'`, or a level above `warn`.
 * Undefined keeps diagnostics on `process.emitWarning`, so a condition to act on is never lost.
 */
export function warningLoggerOf(log: unknown): Logger | undefined {
  const logger = asRequestLogger(log);
  if (logger === undefined) return undefined;
  if (typeof logger.isLevelEnabled === 'function') return logger.isLevelEnabled('warn') ? logger : undefined;
  const level = (log as { level?: unknown }).level;
  return typeof level === 'string' && level !== 'silent' ? logger : undefined;
}

/** A verified request, at `debug`: one line per request when asked for, nothing built otherwise. */
export function logAccepted(logger: RequestLogger, identity: ApiserverIdentity): void {
  try {
    if (logger.isLevelEnabled?.('debug') === false) return;
    logger.debug(
      {
        fingerprint: identity.tokenFingerprint,
        username: identity.username,
        verifiedBy: identity.verifiedBy,
      },
      'apiserver-token: request verified',
    );
  } catch {
    // A failing logger must not change the verdict.
  }
}

/**
 * A refused (or, in observe mode, let through) request: code, status, the precise reason and the
 * token's fingerprint, never the token. Anything not an `ApiserverTokenError` (a throw in
 * `onVerified`) is logged as the 503 it becomes, at `error`: it is a bug to fix, not a caller.
 */
export function logRefused(
  logger: RequestLogger,
  error: unknown,
  request: RequestLike,
  enforcing: boolean,
): void {
  try {
    const known = recognizeError(error);
    if (known === undefined) {
      const reason = error instanceof Error ? error.message : String(error);
      logger.error(
        { code: 'temporarily_unavailable', status: 503, reason, ...(!enforcing && { enforcing: false }) },
        'apiserver-token: unexpected error',
      );
      return;
    }
    const message = (error as Error).message;
    logRejection(
      logger,
      { code: known.code, status: known.status, message, retryAfter: known.retryAfter },
      NO_TOKEN.has(known.code) ? undefined : fingerprintOf(request),
      enforcing,
    );
  } catch {
    // A failing logger must not change the verdict.
  }
}

/** The fingerprint of the request's bearer token; refusals only, so the hash costs nothing on the hot path. */
function fingerprintOf(request: RequestLike): string | undefined {
  try {
    // The verifier already bounded the token's size: no second bound here.
    return tokenFingerprint(readBearerToken(request, Number.MAX_SAFE_INTEGER));
  } catch {
    return undefined;
  }
}
