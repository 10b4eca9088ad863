import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiserverTokenConfigError, type ApiserverTokenVerifier, createVerifier } from '../src/index.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, makeKey, signJwt } from './helpers/keys.js';
import { call, startVerifyingServer, type VerifyingServer } from './helpers/verifying-server.js';

const AUDIENCE = 'https://hub-webhook.example/validate';
const P = 'kubernetes.io/serviceaccount/';
const clusterA = makeKey('RS256');
const clusterB = makeKey('RS256');

/** The claims kube-controller-manager writes into a legacy Secret token (legacy.go). */
const legacyClaims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
  const claims: Record<string, unknown> = {
    iss: 'kubernetes/serviceaccount',
    sub: 'system:serviceaccount:kube-system:webhook-auth',
    [`${P}namespace`]: 'kube-system',
    [`${P}secret.name`]: 'webhook-auth-token',
    [`${P}service-account.name`]: 'webhook-auth',
    [`${P}service-account.uid`]: '0d5e9a80-0000-4000-8000-00000000000a',
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims;
};

let a: JwksServer;
let b: JwksServer;
const opened: Array<{ close(): Promise<void> }> = [];

async function serve(
  options: Record<string, unknown>,
): Promise<{ v: ApiserverTokenVerifier; web: VerifyingServer }> {
  const v = createVerifier({
    audience: AUDIENCE,
    issuers: [
      { issuer: a.issuer, jwks: { ca: a.ca } },
      { issuer: b.issuer, jwks: { ca: b.ca } },
    ],
    env: {},
    ...options,
  });
  const web = await startVerifyingServer(v);
  opened.push(web, v as { close(): Promise<void> });
  return { v, web };
}

beforeAll(async () => {
  a = await startJwksServer({ jwks: jwksOf(clusterA) });
  b = await startJwksServer({ jwks: jwksOf(clusterB) });
});
afterAll(async () => {
  for (const item of opened.reverse()) await item.close();
  await a.close();
  await b.close();
});

describe("legacy tokens: kube-apiserver's structural checks (legacy.go)", () => {
  const missing: Array<[string, Record<string, unknown>]> = [
    ['sub', { sub: undefined }],
    ['service-account.uid', { [`${P}service-account.uid`]: undefined }],
    ['service-account.name', { [`${P}service-account.name`]: undefined }],
    ['namespace', { [`${P}namespace`]: undefined }],
    ['secret.name', { [`${P}secret.name`]: undefined }],
    ['an empty service-account.uid', { [`${P}service-account.uid`]: '' }],
    ['a sub naming another account', { sub: 'system:serviceaccount:kube-system:admin' }],
  ];
  for (const [name, overrides] of missing) {
    it(`a genuine signature over a legacy token without ${name} is refused (malformed_token)`, async () => {
      const { v, web } = await serve({ allowLegacyTokens: [a.issuer] });
      const token = signJwt(clusterA, legacyClaims(overrides));
      expect((await call(web.url, token)).status).toBe(401);
      await expect(v.verifyToken(token)).rejects.toMatchObject({ code: 'malformed_token' });
    });
  }
});

describe('legacy tokens with several issuers: which cluster signed it', () => {
  it('allowLegacyTokens: true is refused with several issuers, naming the fix', () => {
    let error: unknown;
    try {
      createVerifier({
        audience: AUDIENCE,
        issuers: [
          { issuer: 'https://a.example', jwks: { keys: jwksOf(clusterA) as never } },
          { issuer: 'https://b.example', jwks: { keys: jwksOf(clusterB) as never } },
        ],
        allowLegacyTokens: true,
        env: {},
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    expect((error as Error).message).toMatch(/allowLegacyTokens.*name the issuers.*"https:\/\/a\.example"/s);
  });

  it('an issuer not configured cannot be named', () => {
    expect(() =>
      createVerifier({
        audience: AUDIENCE,
        issuer: 'https://a.example',
        jwks: { keys: jwksOf(clusterA) as never },
        allowLegacyTokens: ['https://elsewhere.example'],
        env: {},
      }),
    ).toThrow(/allowLegacyTokens.*elsewhere/);
  });

  it("only the named cluster's keys verify a legacy token, and the identity says which", async () => {
    const { web } = await serve({ allowLegacyTokens: [a.issuer] });
    const fromA = await call(web.url, signJwt(clusterA, legacyClaims()));
    expect(fromA.status).toBe(200);
    expect(fromA.body).toMatchObject({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      issuer: 'kubernetes/serviceaccount',
      signingIssuer: a.issuer,
    });
    // Cluster B's account of the same name, signed by B's genuine key: not admitted.
    const fromB = await call(web.url, signJwt(clusterB, legacyClaims()));
    expect(fromB.status).toBe(401);
    // Without kid, all of A's keys are tried, none of B's.
    expect((await call(web.url, signJwt(clusterB, legacyClaims(), { kid: undefined }))).status).toBe(401);
    expect((await call(web.url, signJwt(clusterA, legacyClaims(), { kid: undefined }))).status).toBe(200);
  });

  it('naming both issuers records the one whose key verified', async () => {
    const { web } = await serve({ allowLegacyTokens: [a.issuer, b.issuer] });
    const fromB = await call(web.url, signJwt(clusterB, legacyClaims()));
    expect(fromB.body).toMatchObject({ signingIssuer: b.issuer });
    const fromA = await call(web.url, signJwt(clusterA, legacyClaims()));
    expect(fromA.body).toMatchObject({ signingIssuer: a.issuer });
  });

  it('the env variable takes issuers too', async () => {
    const v = createVerifier({
      audience: AUDIENCE,
      issuers: [
        { issuer: a.issuer, jwks: { ca: a.ca } },
        { issuer: b.issuer, jwks: { ca: b.ca } },
      ],
      env: { APISERVER_TOKEN_ALLOW_LEGACY_TOKENS: b.issuer },
    });
    opened.push(v as { close(): Promise<void> });
    await expect(v.verifyToken(signJwt(clusterB, legacyClaims()))).resolves.toMatchObject({
      signingIssuer: b.issuer,
    });
    await expect(v.verifyToken(signJwt(clusterA, legacyClaims()))).rejects.toMatchObject({
      code: 'unknown_key',
    });
  });
});
