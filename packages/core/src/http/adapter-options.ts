import type { ApiserverTokenVerifier } from '../contracts/verifier.js';
import type { ApiserverIdentity } from '../identity.js';
import type { VerifierOptions } from '../options.js';

/** How an adapter answers a request it rejects. */
export type RespondMode = 'http' | 'admission-review';

/**
 * Settings every framework adapter understands, on top of {@link VerifierOptions}. `Request` is
 * the framework's request type (Express `Request`, Koa `Context`, Fastify `FastifyRequest`).
 */
export interface AdapterSettings<Request = unknown> {
  /**
   * A verifier made by `createVerifier()`, to share one verifier (one key cache, one verified
   * cache, one set of sockets) between several apps or routes. Mutually exclusive with the
   * verifier options: passing both fails at construction. The adapter never closes a verifier
   * it was given. Default: the adapter creates its own from the other options.
   */
  verifier?: ApiserverTokenVerifier;
  /**
   * How rejections are answered.
   * - `'http'`: 401 with `WWW-Authenticate`, 403, or 503 with `Retry-After`, and a JSON body
   *   `{ error, error_description }`.
   * - `'admission-review'`: when the (already parsed) body is an AdmissionReview, an HTTP 200
   *   AdmissionReview with `allowed: false`, `status.code` 401/403/503 and the request `uid`
   *   echoed, so that `failurePolicy: Ignore` can never let a forged request through; any other
   *   body gets the `'http'` answer. Needs a JSON body parser to run before the middleware.
   *
   * Env: `APISERVER_TOKEN_RESPOND`. Default: `'http'`.
   */
  respond?: RespondMode;
  /**
   * Called once a token is verified, before the identity is attached. Throw an
   * `ApiserverTokenError` (e.g. `ForbiddenIdentityError`) to reject the request with its status;
   * any other throw rejects it with a generic 503. May be async. Default: none.
   */
  onVerified?: (identity: ApiserverIdentity, request: Request) => void | Promise<void>;
  /**
   * Called with every rejection: an `ApiserverTokenError` (its `message` holds the precise
   * reason, never the token; `isApiserverTokenError(error)` narrows to it) or the unexpected
   * error that caused a 503 (a thrown non-`Error` arrives wrapped in an `Error` whose `cause` it
   * is). For logs and metrics; what it throws or returns is ignored. Default: none.
   */
  onRejected?: (error: Error, request: Request) => void;
}

/**
 * Options of an adapter's `verifyApiserverToken()`: the verifier options (see `createVerifier`)
 * and the {@link AdapterSettings}. Everything may come from `APISERVER_TOKEN_*` variables, so
 * no options at all is valid in a configured pod.
 */
export type VerifyApiserverTokenOptions<Request = unknown> = VerifierOptions & AdapterSettings<Request>;

/** What an adapter's middleware or plugin exposes besides itself (and the shared HTTP layer too). */
export interface AdapterControls {
  /**
   * The verifier in use: the one passed as `verifier`, or the one created from the options. Share
   * it with other apps through `verifyApiserverToken({ verifier })`.
   */
  readonly verifier: ApiserverTokenVerifier;
  /** Resolves once the verifier's keys are loaded; await it before reporting ready. */
  ready(): Promise<void>;
  /** Closes the verifier if it was created here; a verifier passed in is left to its owner. Idempotent. */
  close(): Promise<void>;
}
