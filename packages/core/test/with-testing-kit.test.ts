import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApiserverTokenVerifier,
  createVerifier,
  isApiserverTokenError,
  type VerifierOptions,
} from '../src/index.js';

// The kit is an independent implementation of the apiserver side: agreeing with it over real
// HTTPS is evidence that neither mirrors the other's bugs.
const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const kits: TestApiserver[] = [];
const verifiers: ApiserverTokenVerifier[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
  await Promise.all(kits.splice(0).map((kit) => kit.close()));
});

async function kit(options: Parameters<typeof startTestApiserver>[0] = {}) {
  const clock = { ms: Date.now() };
  const api = await startTestApiserver({ now: () => clock.ms, ...options });
  kits.push(api);
  const verifier = (extra: Partial<VerifierOptions> = {}) => {
    const v = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      env: {},
      now: () => clock.ms,
      ...extra,
      jwks: { ca: api.ca, ...extra.jwks },
    });
    verifiers.push(v);
    return v;
  };
  return { api, clock, verifier };
}

describe('against the testing kit (kube-apiserver stand-in over HTTPS)', () => {
  it('verifies a KEP-6060 webhook token, fetching discovery and JWKS with a re-read pod credential', async () => {
    const { api, verifier } = await kit({ discovery: 'authenticated' });
    const credentialFile = join(api.tempDir, 'pod-token');
    writeFileSync(credentialFile, await api.mintToken({ namespace: 'my-ns', serviceAccount: 'my-webhook' }));
    const anonymous = verifier();
    await expect(anonymous.ready()).rejects.toMatchObject({ code: 'issuer_unavailable' });

    const v = verifier({ jwks: { credentialFile } });
    const token = await api.mintWebhookToken({
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      audience: { namespace: 'my-ns', name: 'my-webhook', path: '/validate' },
      apiGroups: ['apps'],
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      jti: true,
    });
    const identity = await v.verify({ headers: { authorization: `Bearer ${token}` } });
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      boundObject: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      attestations: { admissionReviewAPIGroups: ['apps'] },
      audiences: [AUDIENCE],
      verifiedBy: 'jwks',
    });
    expect(identity.extra['attestation.authentication.kubernetes.io/admissionReviewAPIGroups']).toEqual([
      'apps',
    ]);
    expect(identity.extra['authentication.kubernetes.io/credential-id']?.[0]).toMatch(/^JTI=/);
    // The kit's TokenReview agrees on who this is.
    expect(api.reviewToken(token, [AUDIENCE])).toMatchObject({
      ok: true,
      user: { username: identity.username },
    });
    const sent = api.requests('jwks').at(-1)?.headers.authorization;
    expect(sent).toBe(`Bearer ${await readBack(credentialFile)}`);
  });

  it('rotates keys mid-traffic without a single failed genuine request', async () => {
    const { api, verifier } = await kit();
    const v = verifier();
    await v.ready();
    const failures: unknown[] = [];
    const burst = async (n: number) =>
      Promise.all(
        Array.from({ length: n }, async () => {
          const token = await api.mintToken({ audiences: [AUDIENCE], jti: true });
          await v.verifyToken(token).catch((error: unknown) => failures.push(error));
        }),
      );
    await burst(40);
    const second = api.rotateKeys(); // new key signs at once, the old one stays published
    await burst(80);
    const third = api.rotateKeys({ overlapSeconds: 0 }); // and the previous one is dropped
    await burst(40);
    expect(failures).toEqual([]);
    expect(new Set([second, third]).size).toBe(2);
    expect(api.calls('jwks')).toBe(3); // initial + one coalesced refetch per new kid
  });

  it('bounds refetches under a flood of foreign kids', async () => {
    const { api, clock, verifier } = await kit();
    const v = verifier({ jwks: { cooldown: 20 } });
    await v.ready();
    const flood = () =>
      Promise.all(
        Array.from({ length: 100 }, async () =>
          v
            .verifyToken(await api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign', jti: true }))
            .catch((error: unknown) => (isApiserverTokenError(error) ? error.code : 'other')),
        ),
      );
    expect(new Set(await flood())).toEqual(new Set(['unknown_key']));
    expect(api.calls('jwks')).toBe(2);
    await flood();
    expect(api.calls('jwks')).toBe(2);
    clock.ms += 21_000;
    await flood();
    expect(api.calls('jwks')).toBe(3);
  });

  for (const [name, fault] of [
    ['down', { down: true }],
    ['reset mid-body', { reset: true }],
    ['malformed JSON', { malformed: true }],
    ['HTTP 503', { status: 503, retryAfter: 7 }],
    ['slow', { latencyMs: 2_000 }],
  ] as const) {
    it(`issuer ${name}: held keys serve for maxStale, then 503 issuer_unavailable; never a 500, never an accept`, async () => {
      const { api, clock, verifier } = await kit({ discoveryMaxAge: 60 });
      const v = verifier({ jwks: { maxStale: 300, timeout: 500 } });
      await v.ready();
      api.setFault('*', fault);
      clock.ms += 61_000;
      await expect(
        v.verifyToken(await api.mintToken({ audiences: [AUDIENCE], jti: true })),
      ).resolves.toBeDefined();
      clock.ms += 300_000;
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const token = await api.mintToken({
            audiences: [AUDIENCE],
            jti: true,
            ...(i % 2 ? { signWith: 'foreign' } : {}),
          });
          return v.verifyToken(token).then(
            () => 'accepted',
            (error: { status: number; code: string }) => `${error.status} ${error.code}`,
          );
        }),
      );
      expect(new Set(results)).toEqual(new Set(['503 issuer_unavailable']));
      api.clearFaults();
      clock.ms += 120_000;
      await expect(
        v.verifyToken(await api.mintToken({ audiences: [AUDIENCE], jti: true })),
      ).resolves.toBeDefined();
    });
  }

  it('refuses the kit legacy token unless allowed', async () => {
    const { api, verifier } = await kit();
    const legacy = await api.mintLegacyToken({ namespace: 'demo', serviceAccount: 'old-client' });
    await expect(verifier().verifyToken(legacy)).rejects.toMatchObject({ code: 'legacy_token' });
    await expect(verifier({ allowLegacyTokens: true }).verifyToken(legacy)).resolves.toMatchObject({
      username: 'system:serviceaccount:demo:old-client',
      issuer: 'kubernetes/serviceaccount',
    });
  });
});

async function readBack(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(path, 'utf8')).trim();
}
