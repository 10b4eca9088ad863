import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver } from '@apiserver-token/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApiserverTokenVerifier,
  createVerifier,
  type JsonWebKey,
  type VerifierOptions,
} from '../src/index.js';
import { ResultCache } from '../src/verifier/result-cache.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, rawJwt, signJwt } from './helpers/keys.js';
import { recordingLogger } from './helpers/logger.js';
import { type ReviewServer, reviewAnswer, startReviewServer } from './helpers/review-server.js';

// Findings of a security review, each proven on the real code path.

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const IN_CLUSTER_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const key = makeKey('RS256');

const servers: Array<JwksServer | ReviewServer> = [];
const verifiers: ApiserverTokenVerifier[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function server(options: Parameters<typeof startJwksServer>[0] = {}): Promise<JwksServer> {
  const started = await startJwksServer({ jwks: jwksOf(key), ...options });
  servers.push(started);
  return started;
}

function verifier(options: VerifierOptions): ApiserverTokenVerifier {
  const created = createVerifier({ audience: AUDIENCE, env: {}, ...options });
  verifiers.push(created);
  return created;
}

const tokenFor = (issuer: string, nowSeconds: number, extra: Record<string, unknown> = {}) =>
  signJwt(key, kubeClaims({ issuer, audiences: [AUDIENCE], nowSeconds, extra }));

describe('in-cluster issuer learning while the apiserver fails', () => {
  it('honours the backoff and Retry-After: unauthenticated requests do not each cost a discovery fetch', async () => {
    const api = await server({ issuer: IN_CLUSTER_ISSUER });
    api.fault = { kind: 'status', status: 503, retryAfter: '30' };
    const dir = mkdtempSync(join(tmpdir(), 'pod-'));
    writeFileSync(join(dir, 'token'), 'pod-token');
    writeFileSync(join(dir, 'ca.crt'), api.ca);
    const clock = Date.now();
    const v = verifier({
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
      inCluster: { url: api.url, tokenPath: join(dir, 'token'), caPath: join(dir, 'ca.crt') },
      now: () => clock,
    });
    // Unsigned garbage naming a random issuer: each one makes the verifier "learn" the issuer again.
    for (let i = 0; i < 20; i++) {
      await expect(
        v.verifyToken(tokenFor(`https://random-${i}.example`, clock / 1000)),
      ).rejects.toMatchObject({ code: 'issuer_unavailable', status: 503 });
    }
    await expect(v.ready()).rejects.toMatchObject({ code: 'issuer_unavailable' });
    // One fetch; the next may only come after the 30 s the apiserver asked for.
    expect(api.counts.discovery).toBe(1);
  });
});

describe('the JWKS credential', () => {
  it('is never sent to a discovered jwks_uri on another host than discovery, even the issuer’s', async () => {
    // Discovery on the apiserver (with the pod's token); the issuer is hosted elsewhere (a bucket,
    // a cloud OIDC endpoint) and the discovery document points at keys there.
    const discovery = await server();
    const issuerHost = await server();
    const issuer = issuerHost.url.replace('127.0.0.1', 'localhost');
    discovery.issuer = issuer;
    discovery.discoveryOverrides = { jwks_uri: `${issuer}/openid/v1/jwks` };
    const dir = mkdtempSync(join(tmpdir(), 'cred-'));
    writeFileSync(join(dir, 'token'), 'pod-token');
    const v = verifier({
      issuer,
      jwks: {
        discovery: discovery.url,
        ca: [discovery.ca, issuerHost.ca],
        credentialFile: join(dir, 'token'),
      },
    });
    await expect(v.verifyToken(tokenFor(issuer, Date.now() / 1000))).resolves.toMatchObject({ issuer });
    expect(discovery.authorizations).toEqual(['Bearer pod-token']);
    expect(issuerHost.counts.jwks).toBe(1);
    expect(issuerHost.authorizations).toEqual([undefined]);
  });

  it('still goes to an explicitly configured jwks.uri on another host', async () => {
    const discovery = await server();
    const keysHost = await server();
    const uri = `${keysHost.url.replace('127.0.0.1', 'localhost')}/openid/v1/jwks`;
    const dir = mkdtempSync(join(tmpdir(), 'cred-'));
    writeFileSync(join(dir, 'token'), 'pod-token');
    const v = verifier({
      issuer: discovery.issuer,
      jwks: {
        discovery: discovery.url,
        uri,
        ca: [discovery.ca, keysHost.ca],
        credentialFile: join(dir, 'token'),
      },
    });
    await v.ready();
    expect(discovery.authorizations).toEqual(['Bearer pod-token']);
    expect(keysHost.authorizations).toEqual(['Bearer pod-token']);
  });
});

describe('a JWKS entry whose kty names an Object.prototype member', () => {
  const junk = [{ kty: 'constructor' }, { kty: 'toString', kid: 'x' }, { kty: '__proto__' }];

  it('is skipped in a static key set, the other keys still verify', async () => {
    // Not valid JWKs by type either: this is what an untyped JSON file or a hostile issuer hands over.
    const keys = [...junk, key.jwk] as unknown as JsonWebKey[];
    const v = verifier({ issuer: IN_CLUSTER_ISSUER, jwks: { keys: { keys } } });
    const nowSeconds = Date.now() / 1000;
    await expect(v.verifyToken(tokenFor(IN_CLUSTER_ISSUER, nowSeconds))).resolves.toMatchObject({
      verifiedBy: 'jwks',
    });
  });

  it('is skipped in a fetched key set instead of making every token a 503', async () => {
    const api = await server({ jwks: { keys: [...junk, key.jwk] } });
    const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca } });
    await expect(v.verifyToken(tokenFor(api.issuer, Date.now() / 1000))).resolves.toMatchObject({
      issuer: api.issuer,
    });
  });
});

describe('an `exp` beyond what a Date can hold (year 275760)', () => {
  // 1e13 s is a finite JSON number, so the time checks pass; `new Date(1e16)` is an Invalid Date.
  const FAR = 1e13;

  it('jwks: a signed token with it is refused, not accepted with an Invalid Date and cached forever', async () => {
    const v = verifier({ issuer: IN_CLUSTER_ISSUER, jwks: { keys: jwksOf(key) as never } });
    const token = tokenFor(IN_CLUSTER_ISSUER, Date.now() / 1000, { exp: FAR });
    await expect(v.verifyToken(token)).rejects.toMatchObject({ code: 'malformed_token', status: 401 });
  });

  it('tokenreview: the verdict is still re-asked after tokenReview.cacheTtl (revocation is noticed)', async () => {
    const review = await startReviewServer(() =>
      reviewAnswer({
        authenticated: true,
        audiences: [AUDIENCE],
        user: {
          username: 'system:serviceaccount:kube-system:webhook-auth',
          groups: ['system:authenticated'],
        },
      }),
    );
    servers.push(review);
    const clock = { ms: 1_795_451_640_000 };
    const v = verifier({
      mode: 'tokenreview',
      kubeconfig: review.kubeconfigPath,
      inCluster: false,
      now: () => clock.ms,
    });
    const nowSeconds = clock.ms / 1000;
    const token = rawJwt(
      { alg: 'RS256', kid: key.kid },
      kubeClaims({ issuer: IN_CLUSTER_ISSUER, audiences: [AUDIENCE], nowSeconds, extra: { exp: FAR } }),
    );
    const identity = await v.verifyToken(token);
    expect(identity.expiresAt === undefined || Number.isFinite(identity.expiresAt.getTime())).toBe(true);
    expect(review.received).toHaveLength(1);
    clock.ms += 11_000; // past the 10 s an apiserver verdict is trusted
    await v.verifyToken(token);
    expect(review.received).toHaveLength(2);
  });
});

describe('ResultCache', () => {
  it('never lets an identity with an Invalid Date expiry outlive the configured TTL', () => {
    let now = 1_795_451_640_000;
    const cache = new ResultCache({
      max: 10,
      ttlMs: 10_000,
      failureTtlMs: 0,
      audiences: [AUDIENCE],
      now: () => now,
    });
    const key = cache.keyOf('token');
    cache.setIdentity(key, {
      username: 'system:serviceaccount:kube-system:webhook-auth',
      groups: [],
      extra: {},
      audiences: [AUDIENCE],
      expiresAt: new Date(Number.NaN),
      verifiedBy: 'jwks',
      tokenFingerprint: 'f',
    });
    expect(cache.get(key)).toBeDefined();
    now += 10_001;
    expect(cache.get(key)).toBeUndefined();
  });
});

describe('client certificates on a connection that is already gone', () => {
  it('reject with invalid_client_certificate, never a raw TypeError', async () => {
    const api = await startTestApiserver();
    const closers: Array<() => Promise<void>> = [() => api.close()];
    try {
      const serverCert = await api.issueServerCertificate({ ipAddresses: ['127.0.0.1'] });
      const client = await api.issueClientCertificate({ commonName: 'front-proxy-client' });
      const v = verifier({
        issuer: IN_CLUSTER_ISSUER,
        jwks: { keys: jwksOf(key) as never },
        clientCertificate: { mode: 'require', ca: api.clientCa },
      });
      const outcome = new Promise<unknown>((resolve) => {
        const tlsServer = createServer(
          { cert: serverCert.cert, key: serverCert.key, requestCert: true, rejectUnauthorized: false },
          (req) => {
            // The caller hung up (or a body read failed) before the verifier looked at the socket.
            req.socket.destroy();
            v.verify({ headers: req.headers, socket: req.socket }).then(resolve, resolve);
          },
        );
        closers.push(() => new Promise((done) => tlsServer.close(() => done())));
        tlsServer.listen(0, '127.0.0.1', () => {
          const { port } = tlsServer.address() as AddressInfo;
          httpsRequest({
            host: '127.0.0.1',
            port,
            ca: api.ca,
            cert: client.cert,
            key: client.key,
            headers: { authorization: `Bearer ${tokenFor(IN_CLUSTER_ISSUER, Date.now() / 1000)}` },
          })
            .on('error', () => {})
            .end();
        });
      });
      await expect(outcome).resolves.toMatchObject({ code: 'invalid_client_certificate', status: 401 });
    } finally {
      for (const close of closers.reverse()) await close();
    }
  });
});

describe('failure caching (cache.failureTtl)', () => {
  it('keeps free garbage out of the cache, so it cannot evict verified tokens', async () => {
    const clock = { ms: 1_795_451_640_000 };
    const logger = recordingLogger();
    const v = verifier({
      issuer: IN_CLUSTER_ISSUER,
      jwks: { keys: jwksOf(key) as never },
      cache: { max: 50, failureTtl: 60 },
      now: () => clock.ms,
      logger,
    });
    const genuine = tokenFor(IN_CLUSTER_ISSUER, clock.ms / 1000);
    await v.verifyToken(genuine);
    // Costless to make, rejected by the pre-check before any signature is checked.
    for (let i = 0; i < 200; i++) {
      await expect(
        v.verifyToken(rawJwt({ alg: 'RS256' }, { iss: `https://x${i}.example` })),
      ).rejects.toMatchObject({ code: 'unknown_issuer' });
    }
    await v.verifyToken(genuine);
    expect(logger.count('token verified')).toBe(1);
  });
});

describe('a character past ASCII that Node would decode by its low byte', () => {
  // `Ł` (U+0141) is read as `A` by Node's base64url decoder: a genuine token with one of its
  // characters so disguised must not verify as a second, distinct token.
  const disguise = (part: string, at: number): string =>
    part.slice(0, at) + String.fromCharCode(0x100 + part.charCodeAt(at)) + part.slice(at + 1);

  it('in any part of a genuine token, is refused as malformed, however the verifier is set up', async () => {
    const v = verifier({ issuer: IN_CLUSTER_ISSUER, jwks: { keys: jwksOf(key) as never } });
    const token = tokenFor(IN_CLUSTER_ISSUER, Date.now() / 1000);
    await expect(v.verifyToken(token)).resolves.toMatchObject({ verifiedBy: 'jwks' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    for (const forged of [
      `${header}.${payload}.${disguise(signature, 10)}`,
      `${header}.${disguise(payload, 10)}.${signature}`,
      `${disguise(header, 10)}.${payload}.${signature}`,
    ]) {
      await expect(v.verifyToken(forged)).rejects.toMatchObject({ code: 'malformed_token', status: 401 });
    }
  });
});
