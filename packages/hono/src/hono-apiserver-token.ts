import type { IncomingMessage } from 'node:http';
import {
  type AdapterControls,
  type ApiserverIdentity,
  assertAdapterOptions,
  assertOneOf,
  createHttpAuthenticator,
  type VerifyApiserverTokenOptions,
} from '@apiserver-token/core';
import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';

/** What the middleware sets on the context: `c.var.apiserver` / `c.get('apiserver')`. */
export interface ApiserverVariables {
  /** The verified kube-apiserver identity, set before `next()` runs. */
  apiserver: ApiserverIdentity;
}

/**
 * The Hono `Env` the middleware provides. Routes declared with the middleware see
 * `c.var.apiserver` typed; an app guarded as a whole declares it: `new Hono<ApiserverEnv>()`.
 */
export type ApiserverEnv = { Variables: ApiserverVariables };

/** Options of {@link verifyApiserverToken}. */
export interface HonoVerifyApiserverTokenOptions extends VerifyApiserverTokenOptions<Context> {
  /**
   * What to do with a rejection.
   * - `'respond'`: return it (see `respond`): 401 + `WWW-Authenticate`, 403, or 503 +
   *   `Retry-After`, with a JSON body `{ error, error_description }` that never echoes the token.
   * - `'throw'`: throw an `HTTPException` for `app.onError`: its `getResponse()` is that same
   *   response (Hono's default handler sends it), its `cause` the `ApiserverTokenError` (or the
   *   unexpected error behind a 503).
   *
   * Default: `'respond'`.
   */
  errors?: 'respond' | 'throw';
}

/** The middleware, with the verifier it uses. */
export interface ApiserverTokenMiddleware extends MiddlewareHandler<ApiserverEnv>, AdapterControls {}

/**
 * Hono middleware (Hono 4, on Node through `@hono/node-server`, or any runtime with Fetch
 * requests) that lets a request through only if it carries a valid token from a kube-apiserver,
 * and sets `c.var.apiserver` to the caller's identity.
 *
 * Options are those of `createVerifier()` plus the adapter's; each can also come from an
 * `APISERVER_TOKEN_*` variable. Bad options throw an `ApiserverTokenConfigError` here. Admission
 * mode reads the AdmissionReview from the request (capped at `admission.maxBodyBytes`) and leaves
 * it to `c.req.json()`; `respond: 'admission-review'` reads the body only to answer a rejection.
 *
 * @example
 * ```ts
 * app.post('/validate', verifyApiserverToken({ audience: 'https://my-webhook.my-ns.svc:443/validate' }),
 *   async (c) => { console.log(c.var.apiserver.username); … });
 * ```
 */
export function verifyApiserverToken(
  options: HonoVerifyApiserverTokenOptions = {},
): ApiserverTokenMiddleware {
  assertAdapterOptions(options);
  const { errors = 'respond', ...rest } = options;
  assertOneOf('errors', errors, ['respond', 'throw']);
  // Per-request verdicts go to hono-pino's request logger (`c.var.logger`) when it is there.
  const authenticator = createHttpAuthenticator<Context>(rest, {
    requestLogger: (c) => (c.var as Record<string, unknown>)['logger'],
  });
  const admission = authenticator.verifier.admission !== undefined;

  const middleware: MiddlewareHandler<ApiserverEnv> = async (c, next) => {
    const { raw } = c.req;
    // On @hono/node-server, Node's request: its raw header list (repeated Authorization headers are
    // refused, where Fetch headers would join them) and its socket (client certificates).
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const parsed: Promise<unknown> | undefined = c.req.bodyCache.json;
    const body = parsed === undefined ? undefined : await parsed.catch(() => undefined);
    // The review, unread: admission mode reads it for a verified token, and a denial its head.
    const readsReview = admission || authenticator.respond === 'admission-review';
    const stream = readsReview && body === undefined && !raw.bodyUsed ? (raw.body ?? undefined) : undefined;
    const outcome = await authenticator.authenticate(
      {
        headers: incoming?.headers ?? raw.headers,
        rawHeaders: incoming?.rawHeaders,
        socket: incoming?.socket,
        body,
        stream,
      },
      c,
    );
    if (outcome.ok) {
      // The review read from the stream: what `c.req.json()` (and validators) now answer.
      if (outcome.body !== undefined) c.req.bodyCache.json = Promise.resolve(outcome.body);
      c.set('apiserver', outcome.identity);
      return next();
    }
    if (outcome.observed === true) {
      // Observe mode: on, without an identity (and with the review read from the stream, if any).
      if (outcome.body !== undefined) c.req.bodyCache.json = Promise.resolve(outcome.body);
      return next();
    }
    const { status, headers, body: payload } = outcome.response;
    const res = new Response(JSON.stringify(payload), { status, headers });
    if (errors === 'throw') throw new HTTPException(status, { res, cause: outcome.error });
    return res;
  };

  return Object.assign(middleware, {
    verifier: authenticator.verifier,
    ready: authenticator.ready,
    close: authenticator.close,
  });
}
