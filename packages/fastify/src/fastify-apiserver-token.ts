import {
  type AdapterControls,
  type ApiserverIdentity,
  ApiserverTokenConfigError,
  type AuthenticationOutcome,
  assertOneOf,
  createHttpAuthenticator,
  type VerifyApiserverTokenOptions,
  warningLoggerOf,
} from '@apiserver-token/core';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The first registered plugin's verifier controls: `await app.apiserverToken.ready()` before
     * reporting ready, `app.apiserverToken.verifier.health()` for `/readyz`.
     */
    apiserverToken: AdapterControls;
  }
  interface FastifyRequest {
    /**
     * The verified kube-apiserver identity, set by the `fastifyApiserverToken` plugin before the
     * route handler runs. `undefined` on routes the plugin does not guard.
     */
    apiserver?: ApiserverIdentity;
  }
}

/** Options of {@link fastifyApiserverToken}. */
export interface FastifyApiserverTokenOptions extends VerifyApiserverTokenOptions<FastifyRequest> {
  /**
   * The request hook that authenticates.
   * - `'onRequest'`: before the body is read, so an unauthenticated caller costs no parsing.
   * - `'preHandler'`: after the body is parsed and validated; required when authenticating reads
   *   the AdmissionReview (`admission` mode, `respond: 'admission-review'`): `'onRequest'` then
   *   fails at registration. Admission webhooks should raise Fastify's `bodyLimit` (1 MiB by
   *   default) to kube-apiserver's 3 MiB.
   *
   * Default: `'preHandler'` when the body is needed, else `'onRequest'`.
   */
  hook?: 'onRequest' | 'preHandler';
}

async function plugin(fastify: FastifyInstance, options: FastifyApiserverTokenOptions): Promise<void> {
  const { hook: hookOption, ...rest } = options;
  if (hookOption !== undefined) assertOneOf('hook', hookOption, ['onRequest', 'preHandler']);
  // Without a `logger`, operator diagnostics (keys unreachable, ...) go to Fastify's log, where a
  // Fastify user looks, unless it is disabled or silent (then process warnings, so none is lost).
  // A shared `verifier` keeps the sink it was made with.
  const appLog =
    rest.logger === undefined && rest.diagnosticsLogger === undefined && rest.verifier === undefined
      ? warningLoggerOf(fastify.log)
      : undefined;
  const authenticator = createHttpAuthenticator<FastifyRequest>(
    appLog === undefined ? rest : { ...rest, diagnosticsLogger: appLog },
  );
  const hook = hookOption ?? (authenticator.readsBody ? 'preHandler' : 'onRequest');
  if (hook === 'onRequest' && authenticator.readsBody) {
    await authenticator.close();
    throw new ApiserverTokenConfigError(
      'hook',
      "'onRequest' runs before Fastify parses the body, which admission mode and respond: 'admission-review' read: use 'preHandler' (the default then)",
    );
  }
  // Declared up front so every request object has the same shape; `undefined` keeps the type honest.
  if (!fastify.hasRequestDecorator('apiserver')) fastify.decorateRequest('apiserver', undefined);
  if (!fastify.hasDecorator('apiserverToken')) {
    const controls: AdapterControls = {
      verifier: authenticator.verifier,
      ready: authenticator.ready,
      close: authenticator.close,
    };
    fastify.decorate('apiserverToken', controls);
  }
  const finish = (
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    outcome: AuthenticationOutcome,
  ): void => {
    // Observe mode (enforce: false): a refused request goes on too, without an identity.
    if (outcome.ok || outcome.observed === true) {
      if (outcome.ok) request.apiserver = outcome.identity;
      done();
      return;
    }
    // A callback hook that responds does not call done(): the reply ends the request here.
    reply.code(outcome.response.status).headers(outcome.response.headers).send(outcome.response.body);
  };
  // A callback hook, not an async one: a cached identity reaches the handler without a microtask hop.
  fastify.addHook(hook, (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const { raw } = request;
    const outcome = authenticator.authenticateNow(
      { headers: raw.headers, rawHeaders: raw.rawHeaders, body: request.body, socket: raw.socket },
      request,
    );
    if (outcome instanceof Promise) {
      let settledOnce = false;
      const once: HookHandlerDoneFunction = (error?: Error) => {
        settledOnce = true;
        done(error);
      };
      outcome
        .then((settled) => finish(request, reply, once, settled))
        .catch((error: unknown) => {
          if (!settledOnce) once(error as Error);
        });
      return;
    }
    finish(request, reply, done, outcome);
  });
  fastify.addHook('onClose', () => authenticator.close());
}

/**
 * Fastify plugin (Fastify 4 and 5) that lets a request through only if it carries a valid token
 * from a kube-apiserver, and sets `request.apiserver` to the caller's identity.
 *
 * Register it on the app to guard every route, or inside an encapsulated scope (`app.register(async
 * (scope) => { … })`) to guard only that scope's routes. Options are those of `createVerifier()`
 * plus the adapter's; each can also come from an `APISERVER_TOKEN_*` variable. Bad options make
 * `register` (and so `ready()`/`listen()`) fail with an `ApiserverTokenConfigError`. A verifier the
 * plugin created is closed when Fastify closes; one passed as `verifier` is left open.
 *
 * @example
 * ```ts
 * await app.register(fastifyApiserverToken, { audience: 'https://my-webhook.my-ns.svc:443/convert' });
 * app.post('/convert', async (request) => { request.log.info({ caller: request.apiserver?.username }); … });
 * ```
 */
export const fastifyApiserverToken: FastifyPluginAsync<FastifyApiserverTokenOptions> = fp(plugin, {
  fastify: '4.x || 5.x',
  name: '@apiserver-token/fastify',
});
