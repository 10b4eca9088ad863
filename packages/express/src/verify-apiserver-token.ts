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
import type { NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /**
       * The verified kube-apiserver identity, set by `verifyApiserverToken()` before the next
       * handler runs. `undefined` on routes the middleware does not guard.
       */
      apiserver?: ApiserverIdentity;
    }
  }
}

/** Options of {@link verifyApiserverToken}. */
export interface ExpressVerifyApiserverTokenOptions extends VerifyApiserverTokenOptions<Request> {
  /**
   * What to do with a rejection.
   * - `'respond'`: send it (see `respond`): 401 + `WWW-Authenticate`, 403, or 503 +
   *   `Retry-After`, with a JSON body `{ error, error_description }` that never echoes the token.
   * - `'next'`: call `next(error)` for the app's own error handler. The error is an
   *   `ApiserverTokenError` carrying `status`, `statusCode` and `headers` (Express's default
   *   handler uses them), or the unexpected error itself, which your handler must turn into a 503.
   *
   * Default: `'respond'`.
   */
  errors?: 'respond' | 'next';
}

/** The middleware, with the verifier it uses. */
export interface ApiserverTokenMiddleware extends RequestHandler, AdapterControls {}

/**
 * Express middleware (Express 4 and 5) that lets a request through only if it carries a valid
 * token from a kube-apiserver, and sets `req.apiserver` to the caller's identity.
 *
 * Options are those of `createVerifier()` plus the adapter's; each can also come from an
 * `APISERVER_TOKEN_*` variable, so `verifyApiserverToken()` works in a configured pod. Bad
 * options throw an `ApiserverTokenConfigError` here, not on the first request. With
 * `admission` on, the AdmissionReview is read from `req.body` when `express.json()` ran, else
 * from the request itself (capped at `admission.maxBodyBytes`) and then set as `req.body`;
 * `respond: 'admission-review'` reads a refused review itself to echo its uid. Mount
 * `express.json()` after this middleware, so that a refused caller's body is never parsed.
 *
 * @example
 * ```ts
 * app.post('/validate', verifyApiserverToken({ audience: 'https://my-webhook.my-ns.svc:443/validate' }),
 *   express.json({ limit: '3mb' }), (req, res) => { console.log(req.apiserver?.username); ... });
 * ```
 */
export function verifyApiserverToken(
  options: ExpressVerifyApiserverTokenOptions = {},
): ApiserverTokenMiddleware {
  assertAdapterOptions(options);
  const { errors = 'respond', ...rest } = options;
  assertOneOf('errors', errors, ['respond', 'next']);
  const authenticator = createHttpAuthenticator<Request>(rest);

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    let forwarded = false;
    const finish = (outcome: AuthenticationOutcome): void => {
      // Observe mode (enforce: false): a refused request goes on too, without an identity.
      if (outcome.ok || outcome.observed === true) {
        // Admission mode read the AdmissionReview itself (no body parser ran): hand it on.
        if (outcome.body !== undefined) handOnParsedBody(req, outcome.body);
        req.apiserver = outcome.ok ? outcome.identity : undefined;
        forwarded = true;
        next();
      } else if (errors === 'next' || res.headersSent) {
        forwarded = true;
        next(outcome.error);
      } else {
        res.status(outcome.response.status).set(outcome.response.headers).json(outcome.response.body);
      }
    };
    // Express 4 ignores returned promises: nothing may escape as an unhandled rejection.
    const failed = (error: unknown): void => {
      if (!forwarded) next(error);
    };
    const outcome = authenticator.authenticateNow(
      { headers: req.headers, rawHeaders: req.rawHeaders, body: req.body, socket: req.socket, stream: req },
      req,
    );
    if (outcome instanceof Promise) {
      outcome.then(finish).catch(failed);
      return;
    }
    // A cached identity: on to the next handler in this very tick.
    try {
      finish(outcome);
    } catch (error) {
      failed(error);
    }
  };

  return Object.assign(middleware, {
    verifier: authenticator.verifier,
    ready: authenticator.ready,
    close: authenticator.close,
  });
}
