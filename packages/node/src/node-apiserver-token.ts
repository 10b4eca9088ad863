import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AdapterControls,
  type ApiserverIdentity,
  type AuthenticationOutcome,
  assertAdapterOptions,
  assertOneOf,
  createHttpAuthenticator,
  handOnParsedBody,
  type VerifyApiserverTokenOptions,
} from '@apiserver-token/core';

declare module 'http' {
  interface IncomingMessage {
    /**
     * The verified kube-apiserver identity, set by `createApiserverTokenGuard()` or
     * `verifyApiserverToken()` once the request is authenticated. `undefined` otherwise.
     */
    apiserver?: ApiserverIdentity;
  }
}

/** Options of {@link createApiserverTokenGuard}: the verifier's and the shared adapter settings. */
export type NodeApiserverTokenOptions = VerifyApiserverTokenOptions<IncomingMessage>;

/** Options of {@link verifyApiserverToken}. */
export interface ConnectApiserverTokenOptions extends NodeApiserverTokenOptions {
  /**
   * What to do with a rejection.
   * - `'respond'`: send it (see `respond`): 401 + `WWW-Authenticate`, 403, or 503 + `Retry-After`,
   *   with a JSON body `{ error, error_description }` that never echoes the token.
   * - `'next'`: call `next(error)` for the stack's error handler. The error is an
   *   `ApiserverTokenError` carrying `status`, `statusCode` and `headers`, or the unexpected error
   *   itself, which your handler must turn into a 503.
   *
   * Default: `'respond'`.
   */
  errors?: 'respond' | 'next';
}

/** Resolves to the identity, or to `undefined` once the rejection has been sent. */
export interface ApiserverTokenGuard extends AdapterControls {
  /** The identity; `null` when observe mode (`enforce: false`) lets a refused request go on; `undefined` once the rejection is sent. */
  (req: IncomingMessage, res: ServerResponse): Promise<ApiserverIdentity | null | undefined>;
}

/** A Connect-style `(req, res, next)` middleware (Connect, Polka, …), with the verifier it uses. */
export interface ApiserverTokenMiddleware extends AdapterControls {
  (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void;
}

type WithBody = IncomingMessage & { body?: unknown };

function translate(options: NodeApiserverTokenOptions) {
  const authenticator = createHttpAuthenticator<IncomingMessage>(options);
  const { verifier, ready, close } = authenticator;
  const authenticate = (req: WithBody) =>
    authenticator.authenticateNow(
      { headers: req.headers, rawHeaders: req.rawHeaders, body: req.body, socket: req.socket, stream: req },
      req,
    );
  const attach = (req: WithBody, outcome: AuthenticationOutcome): void => {
    // Admission mode read the AdmissionReview from the request itself: hand it on as a parser
    // would. Observe mode hands it on too: the request goes on, without an identity.
    if (outcome.body !== undefined) handOnParsedBody(req, outcome.body);
    if (outcome.ok) req.apiserver = outcome.identity;
  };
  const send = (res: ServerResponse, outcome: AuthenticationOutcome & { ok: false }): void => {
    // Someone answered already: a second status line is impossible, and the handler must not run.
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify(outcome.response.body);
    const length = { 'content-length': String(Buffer.byteLength(body)) };
    res.writeHead(outcome.response.status, { ...outcome.response.headers, ...length }).end(body);
  };
  return { controls: { verifier, ready, close }, authenticate, attach, send };
}

/**
 * For `http.createServer` / `https.createServer` handlers: authenticates the request and resolves
 * to the kube-apiserver's identity (also set as `req.apiserver`), or answers the rejection itself
 * (401 + `WWW-Authenticate`, 403, 503 + `Retry-After`, or the AdmissionReview denial) and resolves
 * to `undefined`. Never rejects. In admission mode the AdmissionReview is read from the request
 * (capped at `admission.maxBodyBytes`) and left on `req.body`. Bad options throw here.
 *
 * @example
 * ```ts
 * const guard = createApiserverTokenGuard({ audience: 'https://my-webhook.my-ns.svc:443/validate' });
 * https.createServer(tls, async (req, res) => {
 *   const identity = await guard(req, res);
 *   if (identity === undefined) return; // already answered
 *   …
 * });
 * ```
 */
export function createApiserverTokenGuard(options: NodeApiserverTokenOptions = {}): ApiserverTokenGuard {
  const { controls, authenticate, attach, send } = translate(options);
  const guard = async (req: IncomingMessage, res: ServerResponse) => {
    const outcome = await authenticate(req);
    if (outcome.ok) {
      attach(req, outcome);
      return outcome.identity;
    }
    if (outcome.observed === true) {
      attach(req, outcome); // observe mode: on, without an identity
      return null;
    }
    send(res, outcome);
    return undefined;
  };
  return Object.assign(guard, controls);
}

/**
 * Connect-style middleware (Connect, Polka, and any `(req, res, next)` stack) that calls `next()`
 * only for a request carrying a valid token from a kube-apiserver, with `req.apiserver` set. Mount
 * the body parser after it, so that a refused caller's body is never parsed: with `respond:
 * 'admission-review'` it reads a refused review itself to echo its uid.
 */
export function verifyApiserverToken(options: ConnectApiserverTokenOptions = {}): ApiserverTokenMiddleware {
  assertAdapterOptions(options);
  const { errors = 'respond', ...rest } = options;
  assertOneOf('errors', errors, ['respond', 'next']);
  const { controls, authenticate, attach, send } = translate(rest);
  const middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void => {
    let forwarded = false;
    const finish = (outcome: AuthenticationOutcome): void => {
      const goesOn = outcome.ok || outcome.observed === true; // observe mode: on, without an identity
      if (!goesOn && errors === 'respond') return void send(res, outcome);
      forwarded = true;
      if (goesOn) attach(req, outcome);
      next(goesOn ? undefined : outcome.error);
    };
    const outcome = authenticate(req);
    // A cached identity goes on in this very tick (a throwing `next` is then the stack's, as for
    // any synchronous middleware); Connect and Polka ignore promises, so none may reject unhandled.
    if (!(outcome instanceof Promise)) return void finish(outcome);
    outcome.then(finish).catch((error: unknown) => {
      if (!forwarded) next(error);
    });
  };
  return Object.assign(middleware, controls);
}
