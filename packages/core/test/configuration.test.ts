import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiserverTokenConfigError,
  type ApiserverTokenVerifier,
  createVerifier,
  type JsonWebKeySet,
  type VerifierOptions,
} from '../src/index.js';
import { FIXTURE_ISSUER, fixtureJson, fixturePath, fixtureText } from './helpers/fixtures.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const key = makeKey('RS256');
const keys = jwksOf(key) as unknown as JsonWebKeySet;
const base: VerifierOptions = {
  audience: AUDIENCE,
  issuer: 'https://issuer.example',
  jwks: { keys },
  env: {},
};

const verifiers: ApiserverTokenVerifier[] = [];
const servers: JwksServer[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
function track(v: ApiserverTokenVerifier): ApiserverTokenVerifier {
  verifiers.push(v);
  return v;
}

function configError(options: unknown): ApiserverTokenConfigError {
  try {
    createVerifier(options as VerifierOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    return error as ApiserverTokenConfigError;
  }
  throw new Error('no error thrown');
}

describe('options are validated at construction, naming the field', () => {
  const table: Array<[string, unknown, string, RegExp]> = [
    ['audience missing', { ...base, audience: undefined }, 'audience', /APISERVER_TOKEN_AUDIENCE/],
    ['audience empty list', { ...base, audience: [] }, 'audience', /is required/],
    ['audience not a string', { ...base, audience: 42 }, 'audience', /non-empty string/],
    ['audiences typo', { ...base, audiences: [AUDIENCE] }, 'audiences', /did you mean `audience`/],
    ['unknown mode', { ...base, mode: 'magic' }, 'mode', /'jwks', 'tokenreview' or 'hybrid'/],
    ['alg none', { ...base, algorithms: ['none'] }, 'algorithms', /never accepted/],
    ['HS256', { ...base, algorithms: ['RS256', 'HS256'] }, 'algorithms', /never accepted/],
    ['EdDSA', { ...base, algorithms: ['EdDSA'] }, 'algorithms', /not supported/],
    ['no algorithm', { ...base, algorithms: [] }, 'algorithms', /non-empty/],
    [
      'negative clockTolerance',
      { ...base, clockTolerance: -1 },
      'clockTolerance',
      /must be a number of seconds from 0 to 3600 \(option `clockTolerance` or APISERVER_TOKEN_CLOCK_TOLERANCE\), got -1$/,
    ],
    [
      'tiny maxTokenBytes',
      { ...base, maxTokenBytes: 10 },
      'maxTokenBytes',
      /must be a whole number of bytes from 64 to 1048576 \(option `maxTokenBytes` or APISERVER_TOKEN_MAX_TOKEN_BYTES\)/,
    ],
    [
      'negative cache.max',
      { ...base, cache: { max: -1 } },
      'cache.max',
      /must be a whole number of entries from 0 to 10000000 \(option `cache.max` or APISERVER_TOKEN_CACHE_MAX\), got -1$/,
    ],
    [
      'negative cache.ttl',
      { ...base, cache: { ttl: -5 } },
      'cache.ttl',
      /must be a non-negative number of seconds \(option `cache.ttl` or APISERVER_TOKEN_CACHE_TTL\), got -5$/,
    ],
    [
      'cache.ttl not a number',
      { ...base, cache: { ttl: '5m' } },
      'cache.ttl',
      /must be a non-negative number of seconds \(option `cache.ttl` or APISERVER_TOKEN_CACHE_TTL\), got "5m"$/,
    ],
    [
      'negative cache.failureTtl',
      { ...base, cache: { failureTtl: -1 } },
      'cache.failureTtl',
      /must be a non-negative number of seconds, got -1$/,
    ],
    ['unknown cache option', { ...base, cache: { ttls: 1 } }, 'cache.ttls', /unknown option/],
    [
      'jwks.timeout 0',
      { ...base, jwks: { uri: 'https://a.example/jwks', timeout: 0 } },
      'jwks.timeout',
      /must be a number of milliseconds from 1 to 120000, got 0$/,
    ],
    ['jwks.uri over http', { ...base, jwks: { uri: 'http://a.example/jwks' } }, 'jwks.uri', /https/],
    ['jwks.uri not a URL', { ...base, jwks: { uri: 'jwks.json' } }, 'jwks.uri', /absolute URL/],
    [
      'jwks.keys missing file',
      { ...base, jwks: { keys: '/nonexistent/jwks.json' } },
      'jwks.keys',
      /cannot read/,
    ],
    ['jwks.keys empty', { ...base, jwks: { keys: { keys: [] } } }, 'jwks.keys', /no usable verification key/],
    [
      'jwks.keys a private key',
      { ...base, jwks: { keys: { keys: [{ ...key.privateKey.export({ format: 'jwk' }), kid: 'k' }] } } },
      'jwks.keys',
      /private key was published/,
    ],
    [
      'jwks.caFile missing',
      { ...base, jwks: { uri: 'https://a.example/jwks', caFile: '/nonexistent/ca.crt' } },
      'jwks.caFile',
      /cannot read/,
    ],
    ['unknown jwks option', { ...base, jwks: { keys, url: 'x' } }, 'jwks.url', /unknown option/],
    ['legacy issuer', { ...base, issuer: 'kubernetes/serviceaccount' }, 'issuer', /allowLegacyTokens/],
    [
      'issuer not a URL to discover',
      { ...base, issuer: 'my-cluster', jwks: {} },
      'issuer',
      /not an https URL/,
    ],
    [
      'issuers entry without issuer',
      { ...base, issuers: [{ issuer: 'https://b.example' }, { jwks: { keys } }] },
      'issuers[1].issuer',
      /non-empty/,
    ],
    [
      'issuer configured twice',
      { ...base, issuers: [{ issuer: 'https://issuer.example', jwks: { keys } }] },
      'issuers',
      /twice/,
    ],
    ['logger without methods', { ...base, logger: { info() {} } }, 'logger', /pino-compatible/],
    ['no issuer outside a pod', { audience: AUDIENCE, env: {} }, 'issuer', /outside a pod/],
    [
      'bad env number',
      { ...base, env: { APISERVER_TOKEN_CLOCK_TOLERANCE: 'soon' } },
      'APISERVER_TOKEN_CLOCK_TOLERANCE',
      /number/,
    ],
    [
      'bad env boolean',
      { ...base, env: { APISERVER_TOKEN_ALLOW_LEGACY_TOKENS: 'maybe' } },
      'APISERVER_TOKEN_ALLOW_LEGACY_TOKENS',
      /true or false/,
    ],
    [
      'bad env algorithm',
      { ...base, env: { APISERVER_TOKEN_ALGORITHMS: 'HS256' } },
      'APISERVER_TOKEN_ALGORITHMS',
      /never accepted/,
    ],
  ];
  for (const [name, options, field, message] of table) {
    it(`${name} → ${field}`, () => {
      const error = configError(options);
      expect(error.field).toBe(field);
      expect(error.message).toContain(`\`${field}\``);
      expect(error.message).toMatch(message);
      // Numeric limits are said in words, never as "between 0 and Infinity".
      expect(error.message).not.toMatch(/Infinity|between/);
    });
  }
});

describe('APISERVER_TOKEN_* environment variables', () => {
  const now = 1_795_451_640;
  const mint = (claims: Partial<Parameters<typeof kubeClaims>[0]> = {}) =>
    signJwt(
      key,
      kubeClaims({ issuer: 'https://issuer.example', audiences: ['a'], nowSeconds: now, ...claims }),
    );

  it('configures a verifier entirely from the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys));
    const v = track(
      createVerifier({
        now: () => (now + 90) * 1000,
        env: {
          APISERVER_TOKEN_AUDIENCE: ' a , b ',
          APISERVER_TOKEN_ISSUER: 'https://issuer.example',
          APISERVER_TOKEN_MODE: 'jwks',
          APISERVER_TOKEN_JWKS_FILE: join(dir, 'jwks.json'),
          APISERVER_TOKEN_CLOCK_TOLERANCE: '0',
          APISERVER_TOKEN_MAX_TOKEN_BYTES: '2048',
        },
      }),
    );
    await expect(v.verifyToken(mint({ audiences: ['b'], lifetime: 600 }))).resolves.toMatchObject({
      audiences: ['b'],
    });
    // Tolerance 0 from the environment: expired 30 s ago is refused, said as a date and a duration.
    await expect(v.verifyToken(mint({ lifetime: 60 }))).rejects.toMatchObject({
      code: 'expired',
      message: 'the token expired at 2026-11-23T16:35:00Z, 30s ago',
    });
    await expect(v.verifyToken('x'.repeat(3000))).rejects.toMatchObject({ code: 'token_too_large' });
  });

  it('lets explicit options win over the environment', async () => {
    const v = track(
      createVerifier({
        ...base,
        audience: 'c',
        clockTolerance: 120,
        now: () => (now + 90) * 1000,
        env: {
          APISERVER_TOKEN_AUDIENCE: 'a',
          APISERVER_TOKEN_CLOCK_TOLERANCE: '0',
          APISERVER_TOKEN_ISSUER: 'https://env.example',
        },
      }),
    );
    await expect(v.verifyToken(mint())).rejects.toMatchObject({ code: 'audience_mismatch' });
    await expect(v.verifyToken(mint({ audiences: ['c'], lifetime: 60 }))).resolves.toBeDefined();
  });

  it('reads ALLOW_LEGACY_TOKENS, ALGORITHMS and the fetch settings (JWKS_URI, CA_FILE, CREDENTIAL_FILE)', async () => {
    const api = await startJwksServer({ jwks: fixtureJson('discovery/jwks.json') });
    servers.push(api);
    const dir = mkdtempSync(join(tmpdir(), 'env-'));
    writeFileSync(join(dir, 'ca.crt'), api.ca);
    writeFileSync(join(dir, 'token'), 'env-credential');
    const v = track(
      createVerifier({
        env: {
          APISERVER_TOKEN_AUDIENCE: 'https://webhook.example',
          APISERVER_TOKEN_ISSUER: FIXTURE_ISSUER,
          APISERVER_TOKEN_JWKS_URI: `${api.url}/openid/v1/jwks`,
          APISERVER_TOKEN_CA_FILE: join(dir, 'ca.crt'),
          APISERVER_TOKEN_CREDENTIAL_FILE: join(dir, 'token'),
          APISERVER_TOKEN_ALLOW_LEGACY_TOKENS: 'true',
          APISERVER_TOKEN_ALGORITHMS: 'RS256,PS256',
        },
      }),
    );
    await expect(v.verifyToken(fixtureText('tokens/legacy.jwt').trim())).resolves.toMatchObject({
      issuer: 'kubernetes/serviceaccount',
    });
    expect(api.authorizations).toEqual(['Bearer env-credential']);
    const es = signJwt(
      makeKey('ES256'),
      kubeClaims({ issuer: FIXTURE_ISSUER, audiences: ['https://webhook.example'], nowSeconds: now }),
    );
    await expect(v.verifyToken(es)).rejects.toMatchObject({ code: 'algorithm_not_allowed' });
  });
});

describe('in-cluster defaults', () => {
  const IN_CLUSTER_ISSUER = 'https://kubernetes.default.svc.cluster.local';

  async function pod() {
    const api = await startJwksServer({ jwks: jwksOf(key), issuer: IN_CLUSTER_ISSUER });
    servers.push(api);
    // kube-apiserver names its external address in jwks_uri; a pod must not follow it.
    api.discoveryOverrides = { jwks_uri: 'https://172.18.0.2:6443/openid/v1/jwks' };
    const dir = mkdtempSync(join(tmpdir(), 'pod-'));
    const tokenPath = join(dir, 'token');
    const caPath = join(dir, 'ca.crt');
    writeFileSync(tokenPath, 'pod-token-1');
    writeFileSync(caPath, api.ca);
    return {
      api,
      tokenPath,
      caPath,
      inCluster: { url: api.url, tokenPath, caPath },
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
    };
  }

  it('learns the issuer from the in-cluster apiserver with the pod token (re-read) and ca.crt', async () => {
    const { api, tokenPath, inCluster, env } = await pod();
    let clock = Date.now();
    const v = track(createVerifier({ audience: AUDIENCE, env, inCluster, now: () => clock }));
    const token = signJwt(
      key,
      kubeClaims({ issuer: IN_CLUSTER_ISSUER, audiences: [AUDIENCE], nowSeconds: clock / 1000 }),
    );
    // The first request waits for the issuer to be learned.
    await expect(v.verifyToken(token)).resolves.toMatchObject({ issuer: IN_CLUSTER_ISSUER });
    expect(api.counts).toMatchObject({ discovery: 1, jwks: 1 });
    expect(api.authorizations).toEqual(['Bearer pod-token-1', 'Bearer pod-token-1']);
    const foreign = signJwt(
      key,
      kubeClaims({ issuer: 'https://evil.example', audiences: [AUDIENCE], nowSeconds: clock / 1000 }),
    );
    await expect(v.verifyToken(foreign)).rejects.toMatchObject({ code: 'unknown_issuer' });
    // The kubelet rotates the projected token; the next fetch sends the new one.
    writeFileSync(tokenPath, 'pod-token-2');
    clock += 3_601_000;
    await v.verifyToken(
      signJwt(
        key,
        kubeClaims({ issuer: IN_CLUSTER_ISSUER, audiences: [AUDIENCE], nowSeconds: clock / 1000 }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(api.authorizations.at(-1)).toBe('Bearer pod-token-2');
  });

  it('checks a configured issuer against the in-cluster discovery document', async () => {
    const { api, inCluster, env } = await pod();
    const right = track(createVerifier({ audience: AUDIENCE, issuer: IN_CLUSTER_ISSUER, env, inCluster }));
    await expect(right.ready()).resolves.toBeUndefined();
    const wrong = track(
      createVerifier({ audience: AUDIENCE, issuer: 'https://other.example', env, inCluster }),
    );
    await expect(wrong.ready()).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(api.counts.jwks).toBe(1);
  });

  it('is not used outside a pod, nor when disabled', async () => {
    const { inCluster } = await pod();
    expect(configError({ audience: AUDIENCE, env: {}, inCluster }).field).toBe('issuer');
    expect(
      configError({ audience: AUDIENCE, env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, inCluster: false })
        .field,
    ).toBe('issuer');
    const missingToken = { ...inCluster, tokenPath: join(inCluster.tokenPath, 'absent') };
    expect(
      configError({
        audience: AUDIENCE,
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
        inCluster: missingToken,
      }).field,
    ).toBe('issuer');
  });

  it('fails the first requests with 503 while the in-cluster apiserver cannot be reached', async () => {
    const { api, inCluster, env } = await pod();
    api.fault = { kind: 'status', status: 503 };
    const v = track(createVerifier({ audience: AUDIENCE, env, inCluster }));
    const token = signJwt(
      key,
      kubeClaims({ issuer: IN_CLUSTER_ISSUER, audiences: [AUDIENCE], nowSeconds: Date.now() / 1000 }),
    );
    await expect(v.verifyToken(token)).rejects.toMatchObject({ code: 'issuer_unavailable', status: 503 });
  });
});

describe('ready() and close()', () => {
  it('ready() resolves at once for static keys; close() is idempotent and later requests get 503', async () => {
    const v = createVerifier({ ...base, jwks: { keys: fixturePath('discovery/jwks.json') } });
    await v.ready();
    await Promise.all([v.close(), v.close()]);
    await expect(v.verifyToken('a.b.c')).rejects.toMatchObject({ status: 503 });
  });
});
