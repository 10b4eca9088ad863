import type { ClientNodeModule, KubeConfigLike } from './client-node.js';
import type { TokenReviewStatus, tokenReviewBody } from './review-result.js';
import { type HttpsOptionsSource, SharedAgent } from './shared-agent.js';

/** Sends one TokenReview; rejects with the client's error (HTTP status, transport) untouched. */
export interface TokenReviewTransport {
  create(
    body: ReturnType<typeof tokenReviewBody>,
    signal: AbortSignal,
  ): Promise<{ status?: TokenReviewStatus }>;
  /** Closes the connections it keeps open. */
  close?(): void;
}

interface RequestContextLike {
  setSignal?(signal: AbortSignal): void;
  getAgent?(): unknown;
  setAgent?(agent: unknown): void;
  getDispatcher?(): unknown;
  setDispatcher?(dispatcher: unknown): void;
}

/**
 * A value both middleware flavours of the generated client accept: a Promise (the
 * `PromiseMiddleware` of the promise API) that also has `toPromise()` (the `Observable` the
 * object-parameter API of client-node 1.x actually consumes from call-time middleware).
 */
type EitherObservable<T> = Promise<T> & { toPromise(): Promise<T> };

function eitherObservable<T>(value: T): EitherObservable<T> {
  const promise = Promise.resolve(value);
  return Object.assign(promise, { toPromise: () => promise });
}

/** Call-time options of a generated client-node API method. */
export interface AbortableCallOptions {
  middleware: Array<{
    pre(context: RequestContextLike): EitherObservable<RequestContextLike>;
    post<T>(response: T): EitherObservable<T>;
  }>;
  middlewareMergeStrategy: 'append';
}

/**
 * Call-time options handing `signal` to the request through a middleware where the client
 * supports it (`RequestContext.setSignal`), and, with `agent`, replacing the per-call agent
 * (client-node 1.x) or undici dispatcher (2.x) client-node makes with a shared keep-alive one;
 * shared by every apiserver call.
 */
export function abortableCallOptions(signal: AbortSignal, agent?: SharedAgent): AbortableCallOptions {
  return {
    middleware: [
      {
        pre(context) {
          if (typeof context.setSignal === 'function') context.setSignal(signal);
          if (
            agent !== undefined &&
            typeof context.getAgent === 'function' &&
            typeof context.setAgent === 'function'
          ) {
            context.setAgent(agent.reuse(context.getAgent()));
          }
          if (
            agent !== undefined &&
            typeof context.getDispatcher === 'function' &&
            typeof context.setDispatcher === 'function'
          ) {
            context.setDispatcher(agent.reuseDispatcher(context.getDispatcher()));
          }
          return eitherObservable(context);
        },
        post: eitherObservable,
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

interface AuthenticationApiLike {
  createTokenReview(
    param: { body: unknown },
    options?: AbortableCallOptions,
  ): Promise<{ status?: TokenReviewStatus }>;
}

/**
 * `AuthenticationV1Api.createTokenReview({ body })` of `@kubernetes/client-node`, the call both
 * majors share. The per-attempt abort signal is handed to the request through a call-time
 * middleware where the client supports it; the caller also races its own timer, so an attempt
 * is bounded even where it does not.
 */
export function clientNodeTransport(module: ClientNodeModule, config: KubeConfigLike): TokenReviewTransport {
  const api = config.makeApiClient(module.AuthenticationV1Api as never) as AuthenticationApiLike;
  const agent = new SharedAgent();
  agent.useKubeConfig(config as HttpsOptionsSource);
  return {
    create(body, signal) {
      return api.createTokenReview({ body }, abortableCallOptions(signal, agent));
    },
    close() {
      agent.close();
    },
  };
}
