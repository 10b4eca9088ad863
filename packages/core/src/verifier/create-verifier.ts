import { type ResolvedConfig, resolveConfig } from '../config/resolve.js';
import { ApiserverTokenConfigError, IssuerUnavailableError, isApiserverTokenError } from '../errors.js';
import { JsonFetcher } from '../jwks/fetch-json.js';
import { type KeySet, RemoteKeySet, StaticKeySet } from '../jwks/key-set.js';
import { JwksStrategy } from '../jwks/strategy.js';
import type { VerifierOptions } from '../options.js';
import { type Authorizer, Pipeline } from './pipeline.js';
import { ResultCache } from './result-cache.js';
import type { ApiserverTokenVerifier, TokenStrategy } from './types.js';

/** The jwks strategy for a resolved configuration: one key set per configured source. */
function createJwksStrategy(config: ResolvedConfig, fetcher: JsonFetcher): JwksStrategy {
  const issuers = new Set<string>();
  const keySetsByIssuer = new Map<string, KeySet>();
  const keySets: KeySet[] = [];
  const learning: KeySet[] = [];
  for (const { issuers: names, source } of config.keySets) {
    let set: KeySet;
    if (source.kind === 'static') {
      set = new StaticKeySet(source.keys, source.label);
    } else {
      const learn = (issuer: string): void => {
        issuers.add(issuer);
        keySetsByIssuer.set(issuer, set);
        config.logger?.info({ issuer }, 'apiserver-token: learned the in-cluster issuer');
      };
      set = new RemoteKeySet(
        {
          discovery: source.discovery,
          jwksUri: source.jwksUri,
          issuers: names,
          allowCrossOriginJwksUri: source.allowCrossOriginJwksUri,
        },
        source.fetch,
        source.timing,
        fetcher,
        config.now,
        config.logger,
        names === undefined ? learn : undefined,
      );
    }
    keySets.push(set);
    if (names === undefined) learning.push(set);
    for (const name of names ?? []) {
      issuers.add(name);
      keySetsByIssuer.set(name, set);
    }
  }
  return new JwksStrategy({
    precheck: {
      algorithms: config.algorithms,
      issuers,
      audiences: new Set(config.audiences),
      clockTolerance: config.clockTolerance,
      allowLegacyTokens: config.allowLegacyTokens,
    },
    keySetsByIssuer,
    keySets,
    learning,
    now: config.now,
    logger: config.logger,
  });
}

/**
 * Create a verifier of the bearer tokens a kube-apiserver presents to webhooks.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({
 *   audience: 'https://my-webhook.my-ns.svc:443/validate',
 *   issuer: 'https://kubernetes.default.svc.cluster.local',
 * });
 * await verifier.ready();
 * const identity = await verifier.verify({ headers: req.headers });
 * ```
 *
 * @throws ApiserverTokenConfigError - when an option (or `APISERVER_TOKEN_*` variable) is invalid; the error names it.
 */
export function createVerifier(options: VerifierOptions = {}): ApiserverTokenVerifier {
  const config = resolveConfig(options);
  if (config.mode !== 'jwks') {
    throw new ApiserverTokenConfigError(
      'mode',
      `'${config.mode}' is not available in this version of @apiserver-token/core; use 'jwks'`,
    );
  }
  const fetcher = new JsonFetcher();
  const jwks = createJwksStrategy(config, fetcher);
  const strategies: TokenStrategy[] = [jwks];
  const authorizers: Authorizer[] = [];
  const pipeline = new Pipeline({
    strategies,
    precheck: jwks.precheck,
    authorizers,
    cache: new ResultCache({
      max: config.cache.max,
      ttlMs: config.cache.ttlMs,
      failureTtlMs: config.cache.failureTtlMs,
      audiences: config.audiences,
      now: config.now,
    }),
    maxTokenBytes: config.maxTokenBytes,
    logger: config.logger,
    unexpected: (error) =>
      isApiserverTokenError(error)
        ? error
        : new IssuerUnavailableError(`unexpected: ${(error as Error)?.message ?? String(error)}`, {
            cause: error,
            retryAfter: 5,
          }),
  });
  let closed: Promise<void> | undefined;
  return {
    verify: (request) => pipeline.verify(request),
    verifyToken: (token) => pipeline.verifyToken(token),
    ready: async () => {
      await Promise.all(strategies.map((strategy) => strategy.ready()));
    },
    close: () => {
      closed ??= (async () => {
        pipeline.close();
        fetcher.close();
        await Promise.all(strategies.map((strategy) => strategy.close()));
      })();
      return closed;
    },
  };
}
