import { readAdmissionBody } from '../admission/read-body.js';
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
import { logAccepted, logRefused, requestLoggerOf } from './request-log.js';
import { decideVerdict } from './verdict.js';

/** Largest body read to echo an AdmissionReview's uid in a denial, as kube-apiserver's 3 MiB. */
const DENIAL_BODY_BYTES = 3 * 1024 * 1024;

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
  // respond: 'admission-review' without admission mode: the denial must echo the review's uid,
  // so a body no parser read is read here, on failures only (never a silent plain 401).
  const readsDenialBody = respond === 'admission-review' && admission === undefined;
  // A verifier given a `logger` logs each verdict itself; otherwise each request's verdict goes to
  // the framework's request logger when there is one (Fastify's request.log, pino-http's req.log).
  const logsPerRequest = !logsVerdicts(verifier);

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
      const log = requestLoggerOf(original);
      if (log !== undefined) logRefused(log, error, request, enforcing);
    }
    const verdict = decideVerdict({ error }, enforcing);
    if (verdict.outcome === 'observed') {
      const response = renderError(error);
      return request.body === undefined
        ? { ok: false, observed: true, error, response }
        : { ok: false, observed: true, error, response, body: request.body };
    }
    if (readsDenialBody && request.body === undefined && request.stream !== undefined) {
      return readAdmissionBody(request, DENIAL_BODY_BYTES).then(
        ({ body }) => respondWith(error, body),
        () => respondWith(error, undefined),
      );
    }
    return respondWith(error, request.body);
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
      const log = requestLoggerOf(original);
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
    let parsedFromStream = false;
    try {
      if (admission !== undefined) {
        // Read once here, before verifying, so that a failure can still echo the review's uid.
        const read = await readAdmissionBody(request, admission.maxBodyBytes);
        if (read.fromStream) {
          parsedFromStream = true;
          request = { ...request, body: read.body, stream: undefined };
        }
      }
      const identity = await verifier.verify(request);
      if (onVerified !== undefined) await onVerified(identity, original);
      const outcome = accepted(identity, original);
      return parsedFromStream ? { ...outcome, body: request.body } : outcome;
    } catch (error) {
      // Observe mode hands on the body read from the stream, as for an accepted request.
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
