import {
  type AdapterControls,
  type ApiserverIdentity,
  type AuthenticationOutcome,
  assertAdapterOptions,
  assertOneOf,
  createHttpAuthenticator,
  type VerifyApiserverTokenOptions,
} from '@apiserver-token/core';
import type { Context, Middleware, Next } from 'koa';

/**
 * What the middleware adds to `ctx.state`. Koa apps with their own state type opt in with
 * `new Koa<ApiserverState & MyState>()`; apps on Koa's `DefaultState` get it through the
 * augmentation below.
 */
export interface ApiserverState {
  /**
   * The verified kube-apiserver identity, set by `verifyApiserverToken()` before `next()` runs.
   * `undefined` on routes the middleware does not guard.
   */
  apiserver?: ApiserverIdentity;
}

declare module 'koa' {
  interface DefaultState extends ApiserverState {}
}

/** Options of {@link verifyApiserverToken}. */
export interface KoaVerifyApiserverTokenOptions extends VerifyApiserverTokenOptions<Context> {
  /**
   * What to do with a rejection.
   * - `'respond'`: send it (see `respond`): 401 + `WWW-Authenticate`, 403, or 503 +
   *   `Retry-After`, with a JSON body `{ error, error_description }` that never echoes the token.
   * - `'throw'`: throw it for the app's error handling (an upstream `try { await next() }` or
   *   `app.on('error')`). The error is an `ApiserverTokenError` carrying `status`, `statusCode`
   *   and `headers`, which Koa's default handler uses without exposing the message; anything
   *   else is unexpected and should become a 503.
   *
   * Default: `'respond'`.
   */
  errors?: 'respond' | 'throw';
}

/** The middleware, with the verifier it uses. */
export interface ApiserverTokenMiddleware extends Middleware<ApiserverState>, AdapterControls {}

/**
 * Koa middleware (Koa 2 and 3) that lets a request through only if it carries a valid token
 * from a kube-apiserver, and sets `ctx.state.apiserver` to the caller's identity.
 *
 * Options are those of `createVerifier()` plus the adapter's; each can also come from an
 * `APISERVER_TOKEN_*` variable, so `verifyApiserverToken()` works in a configured pod. Bad
 * options throw an `ApiserverTokenConfigError` here, not on the first request. Admission mode
 * and `respond: 'admission-review'` read the AdmissionReview from `ctx.request.body` when a body
 * parser ran before this middleware, else from the request stream (capped; the parsed review is
 * then left on `ctx.request.body`). Mount the body parser after this middleware, so that a refused
 * caller's body is never parsed.
 *
 * @example
 * ```ts
 * app.use(verifyApiserverToken({ audience: 'https://my-webhook.my-ns.svc:443/validate' }));
 * app.use(bodyParser({ jsonLimit: '3mb' }));
 * app.use((ctx) => { console.log(ctx.state.apiserver?.username); ... });
 * ```
 */
export function verifyApiserverToken(options: KoaVerifyApiserverTokenOptions = {}): ApiserverTokenMiddleware {
  assertAdapterOptions(options);
  const { errors = 'respond', ...rest } = options;
  assertOneOf('errors', errors, ['respond', 'throw']);
  const authenticator = createHttpAuthenticator<Context>(rest);

  const finish = (ctx: Context, next: Next, outcome: AuthenticationOutcome): Promise<void> => {
    // Observe mode (enforce: false): a refused request goes on too, without an identity.
    if (outcome.ok || outcome.observed === true) {
      // Admission mode read the AdmissionReview itself (no body parser ran yet): hand it on, where
      // body parsers (@koa/bodyparser, koa-body) look first and then leave the spent stream alone.
      if (outcome.body !== undefined) (ctx.request as { body?: unknown }).body = outcome.body;
      if (outcome.ok) (ctx.state as ApiserverState).apiserver = outcome.identity;
      return next();
    }
    if (errors === 'throw') return Promise.reject(outcome.error);
    ctx.status = outcome.response.status;
    ctx.set(outcome.response.headers);
    ctx.body = outcome.response.body;
    return Promise.resolve();
  };

  // Not an async function: a cached identity goes on to `next()` without a microtask hop.
  const middleware = (ctx: Context, next: Next): Promise<void> => {
    const { req } = ctx;
    const body = (ctx.request as { body?: unknown }).body;
    let outcome: AuthenticationOutcome | Promise<AuthenticationOutcome>;
    try {
      outcome = authenticator.authenticateNow(
        { headers: req.headers, rawHeaders: req.rawHeaders, body, socket: req.socket, stream: req },
        ctx,
      );
      return outcome instanceof Promise
        ? outcome.then((settled) => finish(ctx, next, settled))
        : finish(ctx, next, outcome);
    } catch (error) {
      // `next()` may throw synchronously in a hand-made chain: still a rejection, as from an async function.
      return Promise.reject(error);
    }
  };

  return Object.assign(middleware, {
    verifier: authenticator.verifier,
    ready: authenticator.ready,
    close: authenticator.close,
  });
}
