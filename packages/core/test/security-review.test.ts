import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiserverTokenVerifier, createVerifier, type VerifierOptions } from '../src/index.js';
import { type JwksServer, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';

// Findings of a security review, each proven on the real code path.

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const IN_CLUSTER_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const key = makeKey('RS256');

const servers: JwksServer[] = [];
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
