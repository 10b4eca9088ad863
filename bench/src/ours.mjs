// Our packages: whether each one is built and usable yet, and the options every scenario gives them.

const EXPORTS = {
  '@apiserver-token/core': 'createVerifier',
  '@apiserver-token/express': 'verifyApiserverToken',
  '@apiserver-token/koa': 'verifyApiserverToken',
  '@apiserver-token/fastify': 'fastifyApiserverToken',
  '@apiserver-token/node': 'createApiserverTokenGuard',
  '@apiserver-token/hono': 'verifyApiserverToken',
  '@apiserver-token/nestjs': 'ApiserverTokenGuard',
};

/**
 * Imports one of our packages; resolves with `{ available: true, fn, module }` or `{ available: false, reason }`
 * (not built yet, or the export is missing), so that its rows say "not available" instead of failing.
 */
export async function loadOurs(pkg) {
  const name = EXPORTS[pkg];
  try {
    const mod = await import(pkg);
    if (typeof mod[name] !== 'function')
      return { available: false, reason: `${pkg} has no ${name} export yet` };
    return { available: true, fn: mod[name], module: mod };
  } catch (err) {
    const why = err.code === 'ERR_MODULE_NOT_FOUND' ? 'not built yet' : (err.code ?? err.message);
    return { available: false, reason: `${pkg}: ${why}` };
  }
}

/**
 * `maxVerificationsPerSecond` of the `ours-bound` variant: far above the new tokens a cluster's
 * webhooks present (each caller's token changes about every 10 minutes), far below the ~15k
 * forged tokens/s this 2-core machine's Fastify server answers unbounded, so the flood exceeds it
 * 15-30 times over, and at ~20 µs per RS256 check it keeps signatures to about 2 % of a core.
 */
export const BOUND_PER_SECOND = 1000;

/** Verifier options for the kit described by `info` (see kit.mjs), in the given mode. */
export function ourOptions(info, mode = 'jwks') {
  const options = {
    audience: info.audience,
    issuer: info.issuer,
    mode,
    // Never fall back to this machine's pod paths or APISERVER_TOKEN_* variables.
    inCluster: false,
    env: {},
  };
  if (mode === 'jwks' || mode === 'hybrid') {
    options.jwks = { discovery: info.discoveryUrl, ca: info.ca };
    // Under callgrind a TLS handshake alone can outlast the default 5 s.
    if (info.jwksTimeoutMs !== undefined) options.jwks.timeout = info.jwksTimeoutMs;
  }
  if (mode === 'tokenreview' || mode === 'hybrid') {
    options.kubeconfig = info.kubeconfigPath;
  }
  return options;
}
