import type { StrategyContext, TokenStrategy } from '../contracts/verifier.js';
import type { Diagnostics } from '../diagnostics/diagnostics.js';
import { TokenRejectedError, TokenRevokedError } from '../errors.js';
import { tokenFingerprint } from '../jwt/fingerprint.js';
import type { Logger } from '../logger.js';
import { type ClientNodeModule, importClientNode, type KubeConfigLike } from './client-node.js';
import { type InClusterLocations, type KubeconfigSource, resolveKubeConfig } from './kubeconfig.js';
import type { TokenReviewSettings } from './options.js';
import { assertMayCreate } from './permission-probe.js';
import { TokenReviewClient } from './review-client.js';
import { reviewedIdentity } from './reviewed-identity.js';
import { clientNodeTransport, type TokenReviewTransport } from './transport.js';

export interface TokenReviewStrategyOptions {
  audiences: readonly string[];
  kubeconfig: KubeconfigSource;
  inCluster: InClusterLocations | false;
  env: Readonly<Record<string, string | undefined>>;
  settings: TokenReviewSettings;
  logger?: Logger | undefined;
  diagnostics?: Diagnostics;
  now?: () => number;
}

/** The `tokenreview` strategy, with its client exposed for the pipeline's limits and tests. */
export interface TokenReviewStrategy extends TokenStrategy {
  readonly name: 'tokenreview';
  readonly client: TokenReviewClient;
}

/**
 * Verifies a token by asking the apiserver (TokenReview). After a local verification
 * (`context.previous`, the hybrid mode) a "no" from the apiserver means the token was revoked:
 * its pod, secret or service account is gone.
 */
export function createTokenReviewStrategy(options: TokenReviewStrategyOptions): TokenReviewStrategy {
  let transport: Promise<TokenReviewTransport> | undefined;
  let config: KubeConfigLike | undefined;
  const kubeConfig = async (module: ClientNodeModule): Promise<KubeConfigLike> => {
    config ??= resolveKubeConfig(module, options.kubeconfig, options.inCluster, options.env);
    return config;
  };
  const getTransport = (): Promise<TokenReviewTransport> => {
    if (transport === undefined) {
      const loading = importClientNode().then(async (module) =>
        clientNodeTransport(module, await kubeConfig(module)),
      );
      // A failed load is retried by the next request rather than pinned forever.
      loading.catch(() => {
        if (transport === loading) transport = undefined;
      });
      transport = loading;
    }
    return transport;
  };
  const hooks = {
    ...(options.logger !== undefined && { logger: options.logger }),
    ...(options.diagnostics !== undefined && { diagnostics: options.diagnostics }),
    ...(options.now !== undefined && { now: options.now }),
  };
  const client = new TokenReviewClient(getTransport, options.settings.client, hooks);
  const audiences = [...options.audiences];
  let probed = false;

  return {
    name: 'tokenreview',
    client,
    async verify(token: string, context?: StrategyContext) {
      try {
        const accepted = await client.review(
          token,
          audiences,
          context?.fingerprint ?? tokenFingerprint(token),
        );
        return reviewedIdentity(accepted, context?.prechecked, context?.previous);
      } catch (error) {
        if (error instanceof TokenRejectedError && context?.previous !== undefined) {
          throw new TokenRevokedError(`verified locally, but ${error.message}`, { cause: error });
        }
        throw error;
      }
    },
    async ready() {
      await getTransport();
      // Readiness means the apiserver answers and our credentials may create TokenReviews.
      if (!probed) {
        const module = await importClientNode();
        try {
          await assertMayCreate(module, await kubeConfig(module), 'tokenreviews', {
            timeout: options.settings.client.timeout,
            now: options.now ?? Date.now,
            diagnostics: options.diagnostics,
          });
        } catch (error) {
          client.lastError = (error as Error).message;
          throw error;
        }
        probed = true;
      }
    },
    async close() {
      client.close();
      // Its keep-alive connections; a transport still loading is closed once loaded.
      await transport?.then(
        (loaded) => loaded.close?.(),
        () => undefined,
      );
    },
  };
}
