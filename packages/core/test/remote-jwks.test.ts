import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiserverTokenVerifier, createVerifier, type VerifierOptions } from '../src/index.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';
import { testTls } from './helpers/tls.js';
import { until } from './helpers/until.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const key = makeKey('RS256');
const ecKey = makeKey('ES256');

const servers: JwksServer[] = [];
const verifiers: ApiserverTokenVerifier[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function server(options: Parameters<typeof startJwksServer>[0] = {}): Promise<JwksServer> {
  const started = await startJwksServer({ jwks: jwksOf(key, ecKey), ...options });
  servers.push(started);
  return started;
}

function verifier(options: VerifierOptions): ApiserverTokenVerifier {
  const created = createVerifier({ audience: AUDIENCE, env: {}, ...options });
  verifiers.push(created);
  return created;
}

const now = () => Math.floor(Date.now() / 1000);
const tokenFor = (issuer: string, signer = key, extra: Parameters<typeof kubeClaims>[0]['extra'] = {}) =>
  signJwt(signer, kubeClaims({ issuer, audiences: [AUDIENCE], nowSeconds: now(), extra }));

describe('discovery and JWKS over HTTPS', () => {
  it('discovers the JWKS from the issuer URL with a custom CA and verifies RS256 and ES256 tokens', async () => {
    const api = await server();
    const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca } });
    await v.ready();
    expect(api.counts).toMatchObject({ discovery: 1, jwks: 1 });
    const identity = await v.verifyToken(tokenFor(api.issuer));
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      verifiedBy: 'jwks',
    });
    await expect(v.verifyToken(tokenFor(api.issuer, ecKey))).resolves.toMatchObject({ issuer: api.issuer });
    expect(api.counts.total).toBe(2);
  });

  it('fetches an explicit JWKS URL with the CA from a file, without discovery', async () => {
    const api = await server();
    const caFile = join((await testTls()).dir, 'server-ca.crt');
    const v = verifier({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      jwks: { uri: `${api.url}/openid/v1/jwks`, caFile },
    });
    await expect(
      v.verifyToken(tokenFor('https://kubernetes.default.svc.cluster.local')),
    ).resolves.toBeDefined();
    expect(api.counts).toMatchObject({ discovery: 0, jwks: 1 });
  });

  it('refuses a server whose certificate the CA does not sign: 503 issuer_unavailable, never an accept', async () => {
    const api = await server();
    const v = verifier({ issuer: api.issuer, jwks: { ca: (await testTls('other')).ca } });
    await expect(v.ready()).rejects.toMatchObject({ code: 'issuer_unavailable', status: 503 });
    await expect(v.verifyToken(tokenFor(api.issuer))).rejects.toMatchObject({ code: 'issuer_unavailable' });
  });

  it('refuses a discovery document naming another issuer', async () => {
    const api = await server({ issuer: 'https://evil.example' });
    const v = verifier({ issuer: api.url, jwks: { ca: api.ca } });
    await expect(v.verifyToken(tokenFor(api.url))).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(api.counts.jwks).toBe(0);
  });

  it('refuses a jwks_uri on another origin unless allowCrossOriginJwksUri, and never sends it the credential', async () => {
    const keysHost = await server();
    const api = await server();
    api.discoveryOverrides = { jwks_uri: `${keysHost.url.replace('127.0.0.1', 'localhost')}/openid/v1/jwks` };
    const dir = mkdtempSync(join(tmpdir(), 'cred-'));
    writeFileSync(join(dir, 'token'), 'pod-token-1\n');
    const refused = verifier({
      issuer: api.issuer,
      jwks: { ca: api.ca, credentialFile: join(dir, 'token') },
    });
    await expect(refused.ready()).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(keysHost.counts.total).toBe(0);

    const allowed = verifier({
      issuer: api.issuer,
      jwks: { ca: api.ca, credentialFile: join(dir, 'token'), allowCrossOriginJwksUri: true },
    });
    await expect(allowed.verifyToken(tokenFor(api.issuer))).resolves.toBeDefined();
    expect(api.authorizations.at(-1)).toBe('Bearer pod-token-1');
    expect(keysHost.counts.jwks).toBe(1);
    expect(keysHost.authorizations).toEqual([undefined]);
  });

  it('re-reads the credential file on every fetch', async () => {
    const api = await server();
    const dir = mkdtempSync(join(tmpdir(), 'cred-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'first-token');
    let clock = Date.now();
    const v = verifier({
      issuer: api.issuer,
      jwks: { ca: api.ca, credentialFile: file, minMaxAge: 60 },
      now: () => clock,
    });
    api.cacheControl = 'max-age=60';
    await v.ready();
    expect(api.authorizations).toEqual(['Bearer first-token', 'Bearer first-token']);
    writeFileSync(file, 'second-token\n');
    clock += 61_000; // past max-age: the next request refreshes behind the scenes
    await v.verifyToken(tokenFor(api.issuer));
    await until(() => api.counts.jwks === 2);
    expect(api.authorizations.at(-1)).toBe('Bearer second-token');
  });

  it('honours Cache-Control max-age (within bounds) and refreshes behind requests', async () => {
    const api = await server({ cacheControl: 'public, max-age=120' });
    let clock = Date.now();
    const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca }, now: () => clock });
    await v.ready();
    const token = signJwt(
      key,
      kubeClaims({ issuer: api.issuer, audiences: [AUDIENCE], nowSeconds: now(), lifetime: 3600 }),
    );
    clock += 119_000;
    await v.verifyToken(tokenFor(api.issuer));
    expect(api.counts.jwks).toBe(1); // still fresh
    clock += 2_000;
    await v.verifyToken(token); // stale: served with the held keys, refreshed in the background
    await until(() => api.counts.jwks === 2);
    expect(api.counts.discovery).toBe(1);
  });

  it('caps the response body size and times out slow issuers', async () => {
    const api = await server();
    api.fault = { kind: 'huge', bytes: 200_000 };
    const small = verifier({ issuer: api.issuer, jwks: { ca: api.ca, maxBytes: 100_000 } });
    await expect(small.ready()).rejects.toMatchObject({ code: 'issuer_unavailable' });

    api.fault = { kind: 'hang' };
    const started = Date.now();
    const slow = verifier({ issuer: api.issuer, jwks: { ca: api.ca, timeout: 300 } });
    await expect(slow.verifyToken(tokenFor(api.issuer))).rejects.toMatchObject({
      code: 'issuer_unavailable',
      status: 503,
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses non-JSON answers and error statuses', async () => {
    const api = await server();
    for (const fault of [{ kind: 'html' }, { kind: 'garbage' }, { kind: 'status', status: 403 }] as const) {
      api.fault = fault;
      const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca } });
      await expect(v.verifyToken(tokenFor(api.issuer))).rejects.toMatchObject({ code: 'issuer_unavailable' });
    }
  });

  it('serves several issuers at once (multi-cluster), each with its own keys', async () => {
    const a = await server();
    const otherKey = makeKey('ES384');
    const b = await server({ jwks: jwksOf(otherKey) });
    const v = verifier({
      issuers: [
        { issuer: a.issuer, jwks: { ca: a.ca } },
        { issuer: 'https://cluster-b.example', jwks: { uri: `${b.url}/openid/v1/jwks`, ca: b.ca } },
      ],
    });
    await v.ready();
    await expect(v.verifyToken(tokenFor(a.issuer))).resolves.toMatchObject({ issuer: a.issuer });
    await expect(v.verifyToken(tokenFor('https://cluster-b.example', otherKey))).resolves.toMatchObject({
      issuer: 'https://cluster-b.example',
    });
    // A key of cluster B never vouches for cluster A's issuer.
    const crossed = signJwt(
      otherKey,
      kubeClaims({ issuer: a.issuer, audiences: [AUDIENCE], nowSeconds: now() }),
    );
    await expect(v.verifyToken(crossed)).rejects.toMatchObject({ code: 'unknown_key' });
  });

  it('close() aborts fetches in flight and releases the verifier', async () => {
    const api = await server();
    api.fault = { kind: 'hang' };
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca, timeout: 60_000 },
      env: {},
    });
    const pending = v.verifyToken(tokenFor(api.issuer));
    await until(() => api.counts.total === 1);
    await v.close();
    await expect(pending).rejects.toMatchObject({ status: 503 });
    await expect(v.verifyToken(tokenFor(api.issuer))).rejects.toMatchObject({ status: 503 });
  });
});

describe('credentials across clusters', () => {
  it('never sends the top-level credential to an issuer listed in `issuers`', async () => {
    const a = await server();
    const b = await server();
    const dir = mkdtempSync(join(tmpdir(), 'cred-'));
    writeFileSync(join(dir, 'token'), 'cluster-a-token');
    const v = verifier({
      issuer: a.issuer,
      jwks: { ca: a.ca, credentialFile: join(dir, 'token') },
      issuers: [{ issuer: b.issuer, jwks: { ca: b.ca } }],
    });
    await v.ready();
    expect(a.authorizations).toEqual(['Bearer cluster-a-token', 'Bearer cluster-a-token']);
    expect(b.authorizations).toEqual([undefined, undefined]);
  });
});
