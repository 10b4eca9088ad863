import {
  readAdmissionBodyOnce,
  readDenialHead,
  readsStream,
  startedAdmissionBodyRead,
} from '../admission/read-body.js';
import { ADAPTER_OPTIONS, VERIFIER_HINTS, VERIFIER_OPTIONS } from '../config/known-options.js';
import type { ApiserverTokenVerifier, RequestLike } from '../contracts/verifier.js';
import { ApiserverTokenConfigError } from '../errors.js';
import type { ApiserverIdentity } from '../identity.js';
import { assertKnownKeys } from '../lib/known-keys.js';
import { logsVerdicts } from '../logger.js';
import type { VerifierOptions } from '../options.js';
import { createVerifier } from '../verifier/create-verifier.js';
import { verifyNowOf } from '../verifier/verify-now.js';
import { assertAdapterOptions } from './adapter-checks.js';
import type {
  AdapterControls,
  AdapterSettings,
  RespondMode,
  VerifyApiserverTokenOptions,
} from './adapter-options.js';
import { type AdmissionDenialResponse, renderAdmissionDenial } from './render-admission-denial.js';
import { type ErrorResponse, renderError } from './render-error.js';
import { asRequestLogger, logAccepted, logRefused, requestLoggerOf } from './request-log.js';
import { decideVerdict } from './verdict.js';

/**
 * Most bytes of a rejected request's body read to build its AdmissionReview denial: a body that
 * fits is parsed whole; of a larger one only this head is kept, where kube-apiserver writes
 * `kind`, `apiVersion` and `request.uid`, and the rest is discarded as it arrives.
 */
export const DENIAL_HEAD_BYTES = 64 * 1024;

/**
 * Most rejected requests' bodies read at once (per adapter) to build their AdmissionReview
 * denials. Beyond it a rejected request gets the plain HTTP error without its body being read.
 * With {@link DENIAL_HEAD_BYTES}, callers without a valid token can make us hold at most
 * 64 x 64 KiB = 4 MiB of bodies, however many they are and however large their bodies.
 */
export const DENIAL_READS_MAX = 64;

/**
 * How long the body of a rejected request may take to arrive, in milliseconds; past it the
 * connection is dropped. kube-apiserver sends a whole AdmissionReview at once: only a sender
 * trickling its body (slow loris) meets this.
 */
export const DENIAL_READ_TIMEOUT_MS = 5000;

/** What observe mode hands on: the request's body, or why reading it from the stream failed. */
type ObservedBody = { body: unknown } | { failed: unknown };

/** The result of authenticating one request. */
export type AuthenticationOutcome =
  | {
      ok: true;
      identity: ApiserverIdentity;
      /**
       * Admission mode, when the AdmissionReview was read from the request stream (no body parser
       * ran): the parsed body, for the adapter to hand to the handler (`req.body`, `ctx.request.body`).
       */
      body?: unknown;
    }
  | {
      ok: false;
      /** What was thrown: an `ApiserverTokenError`, or an unexpected error (rendered as 503). */
      error: unknown;
      /** The response to send, per {@link AdapterSettings.respond}. */
      response: ErrorResponse | AdmissionDenialResponse;
      /**
       * Observe mode (`enforce: false`): do not send `response` but let the request go on, with no
       * identity attached. An adapter that ignores this field stays enforcing (fails closed).
       */
      observed?: boolean;
      /** Observe mode, admission: the AdmissionReview read from the stream, to hand on as for an accepted request. */
      body?: unknown;
    };

/**
 * The framework-free half of every adapter: it owns (or borrows) the verifier, runs the hooks
 * and renders failures. An adapter translates its request into a {@link RequestLike}, calls
 * {@link HttpAuthenticator.authenticate}, and either attaches the identity or sends the response.
 */
export interface HttpAuthenticator<Request = unknown> extends AdapterControls {
  /** True when the verifier was created here, so {@link HttpAuthenticator.close} closes it. */
  readonly ownsVerifier: boolean;
  /** How rejections are rendered. */
  readonly respond: RespondMode;
  /**
   * True when authenticating reads the parsed body (the AdmissionReview), so an adapter whose
   * framework parses bodies after its authentication hook must run later (Fastify: `preHandler`).
   */
  readonly readsBody: boolean;
  /** Verifies the request; never rejects (every failure is an outcome with its response). */
  authenticate(request: RequestLike, original: Request): Promise<AuthenticationOutcome>;
  /**
   * {@link HttpAuthenticator.authenticate}, but the outcome of a request answered from the cache
   * (and whose policy and `onVerified` ran synchronously) is returned as a value rather than a
   * promise, so that an adapter can hand on the request without a microtask hop. Same outcomes;
   * never throws, and a returned promise never rejects.
   */
  authenticateNow(
    request: RequestLike,
    original: Request,
  ): AuthenticationOutcome | Promise<AuthenticationOutcome>;
}

/** What an adapter tells the HTTP layer about its framework (not user options). */
export interface HttpAuthenticatorHooks<Request = unknown> {
  /**
   * The request-scoped logger for per-request verdicts, when the verifier has no `logger`: a
   * pino-style logger, or undefined for none. Default: the `log` property of the request the
   * adapter passes (Fastify's `request.log`, pino-http's `req.log`, koa-pino-logger's `ctx.log`).
   */
  requestLogger?: (original: Request) => unknown;
}

/** Options an adapter reads itself; everything else goes to `createVerifier()`. */
const SETTINGS = ['verifier', 'respond', 'onVerified', 'onRejected'] as const satisfies ReadonlyArray<
  keyof AdapterSettings
>;

const ADAPTER_KNOWN: readonly string[] = [...VERIFIER_OPTIONS, ...ADAPTER_OPTIONS];
const ADAPTER_HINTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(VERIFIER_HINTS).filter(([name]) => !ADAPTER_OPTIONS.includes(name)),
);

/**
 * Builds the shared adapter core from an adapter's options. With `{ verifier }` it borrows that
 * verifier; otherwise it creates one from the remaining options (and the environment), so bad
 * configuration fails here, when the app is wired, not on the first request.
 *
 * @throws ApiserverTokenConfigError when options are invalid or `verifier` is combined with verifier options.
 */
export function createHttpAuthenticator<Request = unknown>(
  options: VerifyApiserverTokenOptions<Request> = {},
  hooks: HttpAuthenticatorHooks<Request> = {},
): HttpAuthenticator<Request> {
  assertAdapterOptions(options);
  assertKnownKeys(options, ADAPTER_KNOWN, '', ADAPTER_HINTS);
  const { verifier: given, respond: respondOption, onVerified, onRejected, ...verifierOptions } = options;
  const env = verifierOptions.env ?? process.env;
  if (onVerified !== undefined && typeof onVerified !== 'function') {
    throw new ApiserverTokenConfigError('onVerified', 'expected a function');
  }
  if (onRejected !== undefined && typeof onRejected !== 'function') {
    throw new ApiserverTokenConfigError('onRejected', 'expected a function');
  }
  const verifier = resolveVerifier(given, verifierOptions);
  const ownsVerifier = given === undefined;
  // Admission mode answers with AdmissionReview denials unless told otherwise.
  const admission = verifier.admission;
  const respond = parseRespond(respondOption ?? env['APISERVER_TOKEN_RESPOND'] ?? admission?.respond);

  const verifyNow = verifyNowOf(verifier);
  // Observe mode belongs to the verifier (so one shared verifier is in one mode everywhere).
  const enforcing = verifier.enforcing !== false;
  // respond: 'admission-review': the denial must echo the review's uid, so a body no parser read
  // is read here for a rejected request: its head only, a few at a time, within a deadline.
  let denialReads = 0;

  /** The AdmissionReview a denial echoes: parsed already, read by the verifier, or its head read now. */
  function denialBody(request: RequestLike): unknown | Promise<unknown> {
    const started = startedAdmissionBodyRead(request);
    if (started !== undefined)
      return started.then(
        ({ body }) => body,
        () => undefined,
      );
    if (!readsStream(request)) return request.body;
    // Over the cap: a plain answer, the body left unread.
    if (denialReads >= DENIAL_READS_MAX) return undefined;
    denialReads++;
    return readDenialHead(request, DENIAL_HEAD_BYTES, DENIAL_READ_TIMEOUT_MS).finally(() => {
      denialReads--;
    });
  }

  /**
   * Observe mode hands a refused request on: with its AdmissionReview, read as for an accepted one.
   * A body that read and failed (not JSON, too large) is `failed`: its stream is spent, so the
   * request cannot go on to a body parser after the guard (Express 4's and Koa's answer 500/499 on
   * a spent stream, Express 5's hands on no body at all); it gets the 400/413 a parser would give.
   */
  function observedBody(request: RequestLike): ObservedBody | Promise<ObservedBody> {
    if (admission === undefined || (!readsStream(request) && startedAdmissionBodyRead(request) === undefined))
      return { body: request.body };
    return readAdmissionBodyOnce(request, admission.maxBodyBytes).then(
      ({ body }): ObservedBody => ({ body }),
      (failed: unknown): ObservedBody => ({ failed }),
    );
  }

  // A verifier given a `logger` logs each verdict itself; otherwise each request's verdict goes to
  // the framework's request logger when there is one (Fastify's request.log, pino-http's req.log).
  const logsPerRequest = !logsVerdicts(verifier);
  const locate = hooks.requestLogger;
  const requestLog = (original: Request) => {
    try {
      return locate === undefined ? requestLoggerOf(original) : asRequestLogger(locate(original));
    } catch {
      // A failing lookup must not change the verdict: no line for this request.
      return undefined;
    }
  };

  function rejected(
    error: unknown,
    request: RequestLike,
    original: Request,
  ): AuthenticationOutcome | Promise<AuthenticationOutcome> {
    if (onRejected !== undefined) {
      try {
        onRejected(error instanceof Error ? error : new Error(String(error), { cause: error }), original);
      } catch {
        // An observer must not change the verdict.
      }
    }
    if (logsPerRequest) {
      const log = requestLog(original);
      if (log !== undefined) logRefused(log, error, request, enforcing);
    }
    const verdict = decideVerdict({ error }, enforcing);
    if (verdict.outcome === 'observed') {
      const response = renderError(error);
      const observed = (read: ObservedBody): AuthenticationOutcome => {
        if ('failed' in read) return respondWith(read.failed, undefined);
        return read.body === undefined
          ? { ok: false, observed: true, error, response }
          : { ok: false, observed: true, error, response, body: read.body };
      };
      const read = observedBody(request);
      return isThenable(read) ? Promise.resolve(read).then(observed) : observed(read);
    }
    if (respond !== 'admission-review') return respondWith(error, undefined);
    const body = denialBody(request);
    return isThenable(body)
      ? Promise.resolve(body).then((read) => respondWith(error, read))
      : respondWith(error, body);
  }

  function respondWith(error: unknown, body: unknown): AuthenticationOutcome {
    const denial = respond === 'admission-review' ? renderAdmissionDenial(error, body) : undefined;
    return { ok: false, error, response: denial ?? renderError(error) };
  }

  function verified(
    identity: ApiserverIdentity,
    request: RequestLike,
    original: Request,
  ): AuthenticationOutcome | Promise<AuthenticationOutcome> {
    if (onVerified === undefined) return accepted(identity, original);
    let result: void | Promise<void>;
    try {
      result = onVerified(identity, original);
    } catch (error) {
      return rejected(error, request, original);
    }
    if (!isThenable(result)) return accepted(identity, original);
    return Promise.resolve(result).then(
      (): AuthenticationOutcome => accepted(identity, original),
      (error: unknown) => rejected(error, request, original),
    );
  }

  function accepted(identity: ApiserverIdentity, original: Request): AuthenticationOutcome {
    if (logsPerRequest) {
      const log = requestLog(original);
      if (log !== undefined) logAccepted(log, identity);
    }
    return { ok: true, identity };
  }

  function authenticateNow(
    request: RequestLike,
    original: Request,
  ): AuthenticationOutcome | Promise<AuthenticationOutcome> {
    // Admission mode reads the body first: always asynchronous.
    if (admission !== undefined) return authenticateAdmission(request, original);
    let result: ApiserverIdentity | Promise<ApiserverIdentity>;
    try {
      result = verifyNow(request);
    } catch (error) {
      return rejected(error, request, original);
    }
    if (result instanceof Promise) {
      return result.then(
        (identity) => verified(identity, request, original),
        (error: unknown) => rejected(error, request, original),
      );
    }
    return verified(result, request, original);
  }

  async function authenticateAdmission(
    request: RequestLike,
    original: Request,
  ): Promise<AuthenticationOutcome> {
    try {
      // The token first, from the headers: the verifier reads the AdmissionReview only for the
      // KEP-6060 checks of a verified token; a rejected request's body is read (within limits)
      // only to build its denial.
      const identity = await verifier.verify(request);
      if (onVerified !== undefined) await onVerified(identity, original);
      if (admission === undefined) return accepted(identity, original);
      // The verifier's read, shared: the handler gets the body no parser read.
      const read = await readAdmissionBodyOnce(request, admission.maxBodyBytes);
      const outcome = accepted(identity, original);
      return read.fromStream ? { ...outcome, body: read.body } : outcome;
    } catch (error) {
      return rejected(error, request, original);
    }
  }

  const authenticate = (request: RequestLike, original: Request): Promise<AuthenticationOutcome> => {
    const outcome = authenticateNow(request, original);
    return outcome instanceof Promise ? outcome : Promise.resolve(outcome);
  };

  let closed: Promise<void> | undefined;
  return {
    verifier,
    ownsVerifier,
    respond,
    readsBody: respond === 'admission-review' || admission !== undefined,
    authenticate,
    authenticateNow,
    ready: () => verifier.ready(),
    close: () => {
      if (!ownsVerifier) return Promise.resolve();
      closed ??= verifier.close();
      return closed;
    },
  };
}

/**
 * Returns `verifier` when one is given (and no verifier option is), or a new verifier made from
 * `options`. The building block for adapters that do not use {@link createHttpAuthenticator}.
 *
 * @throws ApiserverTokenConfigError when both are given, or when `verifier` is not a verifier.
 */
export function resolveVerifier(
  verifier: ApiserverTokenVerifier | undefined,
  options: VerifierOptions = {},
): ApiserverTokenVerifier {
  if (verifier === undefined) return createVerifier(options);
  if (!isVerifier(verifier)) {
    throw new ApiserverTokenConfigError('verifier', 'expected a verifier made by createVerifier()');
  }
  const extra = Object.keys(options).filter(
    (key) =>
      options[key as keyof VerifierOptions] !== undefined && !(SETTINGS as readonly string[]).includes(key),
  );
  if (extra.length > 0) {
    throw new ApiserverTokenConfigError(
      extra[0]!,
      'cannot be combined with `verifier`: set it on the shared verifier in createVerifier() instead',
    );
  }
  return verifier;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function isVerifier(value: unknown): value is ApiserverTokenVerifier {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['verify', 'verifyToken', 'ready', 'close'].every((name) => typeof candidate[name] === 'function');
}

function parseRespond(value: unknown): RespondMode {
  if (value === undefined || value === '') return 'http';
  if (value === 'http' || value === 'admission-review') return value;
  throw new ApiserverTokenConfigError(
    'respond',
    `expected 'http' or 'admission-review' (or APISERVER_TOKEN_RESPOND), got ${JSON.stringify(String(value))}`,
  );
}
