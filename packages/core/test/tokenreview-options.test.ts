import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiserverTokenConfigError, createVerifier, type VerifierOptions } from '../src/index.js';
import { resolveTokenReviewOptions } from '../src/tokenreview/options.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
let api: TestApiserver;
beforeAll(async () => {
  api = await startTestApiserver();
});
afterAll(async () => {
  await api.close();
});

function configError(options: VerifierOptions): ApiserverTokenConfigError {
  try {
    createVerifier({ audience: AUDIENCE, env: {}, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    return error as ApiserverTokenConfigError;
  }
  throw new Error('expected an ApiserverTokenConfigError');
}

describe('tokenReview options', () => {
  it('defaults: 10 s attempts, 5 attempts with 500 ms x1.5 backoff, 32 in flight, 10 s success TTL, 5 s failure TTL', () => {
    expect(resolveTokenReviewOptions(undefined, {})).toEqual({
      client: {
        timeout: 10_000,
        retries: 4,
        backoff: { initial: 500, factor: 1.5, jitter: 0.2, max: 5000 },
        deadline: 15_000,
        maxInFlight: 32,
        maxQueued: 256,
      },
      cacheTtlMs: 10_000,
      failureCacheTtlMs: 5000,
      allowOpaqueTokens: false,
    });
  });

  it('reads APISERVER_TOKEN_TOKENREVIEW_*; explicit options win', () => {
    const env = {
      APISERVER_TOKEN_TOKENREVIEW_TIMEOUT: '2500',
      APISERVER_TOKEN_TOKENREVIEW_MAX_IN_FLIGHT: '4',
      APISERVER_TOKEN_TOKENREVIEW_CACHE_TTL: '5',
      APISERVER_TOKEN_TOKENREVIEW_FAILURE_CACHE_TTL: '2',
      APISERVER_TOKEN_TOKENREVIEW_ALLOW_OPAQUE_TOKENS: 'true',
    };
    const settings = resolveTokenReviewOptions(undefined, env);
    expect(settings.client.timeout).toBe(2500);
    expect(settings.client.maxInFlight).toBe(4);
    expect(settings.cacheTtlMs).toBe(5000);
    expect(settings.failureCacheTtlMs).toBe(2000);
    expect(settings.allowOpaqueTokens).toBe(true);
    expect(resolveTokenReviewOptions({ timeout: 100, allowOpaqueTokens: false }, env)).toMatchObject({
      client: { timeout: 100 },
      allowOpaqueTokens: false,
    });
  });

  it('invalid values fail at construction, naming the field', () => {
    const cases: Array<[VerifierOptions['tokenReview'], string]> = [
      [{ timeout: 0 }, 'tokenReview.timeout'],
      [{ timeout: Number.NaN }, 'tokenReview.timeout'],
      [{ retries: -1 }, 'tokenReview.retries'],
      [{ retries: 1.5 }, 'tokenReview.retries'],
      [{ maxInFlight: 0 }, 'tokenReview.maxInFlight'],
      [{ maxQueued: -1 }, 'tokenReview.maxQueued'],
      [{ cacheTtl: -1 }, 'tokenReview.cacheTtl'],
      [{ failureCacheTtl: 'ten' as unknown as number }, 'tokenReview.failureCacheTtl'],
      [{ backoff: { factor: 0.5 } }, 'tokenReview.backoff.factor'],
      [{ backoff: { jitter: 2 } }, 'tokenReview.backoff.jitter'],
      [{ allowOpaqueTokens: 'yes' as unknown as boolean }, 'tokenReview.allowOpaqueTokens'],
    ];
    for (const [tokenReview, field] of cases) {
      const error = configError({ mode: 'tokenreview', kubeconfig: api.kubeconfigPath, tokenReview });
      expect(error.field).toBe(field);
      expect(error.message).toContain(field);
    }
    expect(configError({ mode: 'tokenreview', tokenReview: [] as unknown as object }).field).toBe(
      'tokenReview',
    );
  });
});

describe('mode and kubeconfig, from options and the environment', () => {
  it('APISERVER_TOKEN_MODE and APISERVER_TOKEN_KUBECONFIG configure a working tokenreview verifier', async () => {
    const verifier = createVerifier({
      audience: AUDIENCE,
      env: { APISERVER_TOKEN_MODE: 'tokenreview', APISERVER_TOKEN_KUBECONFIG: api.kubeconfigPath },
    });
    await verifier.ready();
    const identity = await verifier.verifyToken(await api.mintToken({ audiences: [AUDIENCE] }));
    expect(identity.verifiedBy).toBe('tokenreview');
    expect(api.calls('tokenreviews')).toBeGreaterThanOrEqual(1);
    await verifier.close();
  });

  it('an unknown mode or a missing kubeconfig file fails at construction', () => {
    expect(configError({ env: { APISERVER_TOKEN_MODE: 'review' } }).field).toBe('APISERVER_TOKEN_MODE');
    expect(configError({ mode: 'tokenreview', kubeconfig: '/nonexistent/kubeconfig' }).field).toBe(
      'kubeconfig',
    );
    expect(
      configError({ mode: 'tokenreview', env: { APISERVER_TOKEN_KUBECONFIG: '/nonexistent/kubeconfig' } })
        .field,
    ).toBe('APISERVER_TOKEN_KUBECONFIG');
    expect(configError({ mode: 'tokenreview', kubeconfig: 42 as unknown as string }).field).toBe(
      'kubeconfig',
    );
  });

  it('an unusable kubeconfig is reported by ready() as a configuration error', async () => {
    const verifier = createVerifier({
      audience: AUDIENCE,
      mode: 'tokenreview',
      kubeconfig: 'in-cluster',
      inCluster: {
        tokenPath: '/nonexistent/token',
        caPath: '/nonexistent/ca.crt',
        url: 'http://127.0.0.1:1',
      },
      env: {},
    });
    await expect(verifier.ready()).rejects.toBeInstanceOf(ApiserverTokenConfigError);
    // ...and per request it is a 503, never an accept.
    const error = await verifier.verifyToken(await api.mintToken({ audiences: [AUDIENCE] })).catch((e) => e);
    expect(error.code).toBe('apiserver_unavailable');
    await verifier.close();
  });

  it('a kubeconfig that cannot be loaded yet is retried by the next request, not pinned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-retry-'));
    const path = join(dir, 'kubeconfig');
    copyFileSync(api.kubeconfigPath, path);
    const verifier = createVerifier({ audience: AUDIENCE, mode: 'tokenreview', kubeconfig: path, env: {} });
    renameSync(path, `${path}.away`);
    const token = await api.mintToken({ audiences: [AUDIENCE] });
    expect((await verifier.verifyToken(token).catch((e) => e)).code).toBe('apiserver_unavailable');
    renameSync(`${path}.away`, path);
    expect((await verifier.verifyToken(token)).verifiedBy).toBe('tokenreview');
    await verifier.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hybrid needs an issuer and key source like jwks; tokenreview does not', () => {
    expect(configError({ mode: 'hybrid', kubeconfig: api.kubeconfigPath, inCluster: false }).field).toBe(
      'issuer',
    );
    expect(() =>
      createVerifier({ audience: AUDIENCE, mode: 'tokenreview', kubeconfig: api.kubeconfigPath, env: {} }),
    ).not.toThrow();
  });

  it('tokenreview mode with an issuer configured pre-checks it', async () => {
    const verifier = createVerifier({
      audience: AUDIENCE,
      mode: 'tokenreview',
      issuer: 'https://kubernetes.default.svc.cluster.local',
      kubeconfig: api.kubeconfigPath,
      env: {},
    });
    api.resetCalls();
    const error = await verifier.verifyToken(await api.mintToken({ audiences: [AUDIENCE] })).catch((e) => e);
    expect(error.code).toBe('unknown_issuer');
    expect(api.calls('tokenreviews')).toBe(0);
    await verifier.close();
  });
});
