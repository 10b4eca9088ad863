import { describe, expect, it } from 'vitest';
import { createVerifier, type JsonWebKeySet, tokenFingerprint } from '../src/index.js';
import { FIXTURE_ISSUER, fixtureJson, fixtureText } from './helpers/fixtures.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';
import { recordingLogger } from './helpers/logger.js';

const jwks = fixtureJson<JsonWebKeySet>('discovery/jwks.json');
const SA_UID = '55c8e47e-6b81-4f74-93af-700a4a0d235f';
const GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:demo', 'system:authenticated'];

async function verifyFixture(
  name: string,
  audience: string | string[],
  options: { allowLegacyTokens?: boolean } = {},
) {
  const token = fixtureText(`tokens/${name}.jwt`).trim();
  const { claims } = fixtureJson<{ claims: { iat?: number } }>(`tokens/${name}.json`);
  const at = ((claims.iat ?? 1_795_451_700) + 5) * 1000;
  const verifier = createVerifier({
    audience,
    issuer: FIXTURE_ISSUER,
    jwks: { keys: jwks },
    now: () => at,
    env: {},
    ...options,
  });
  return { identity: await verifier.verifyToken(token), token };
}

describe('Kubernetes claim layouts (recorded tokens)', () => {
  it('plain token', async () => {
    const { identity, token } = await verifyFixture('token', 'https://webhook.example');
    expect(identity).toEqual({
      username: 'system:serviceaccount:demo:webhook-client',
      uid: SA_UID,
      groups: GROUPS,
      extra: {},
      serviceAccount: { namespace: 'demo', name: 'webhook-client', uid: SA_UID },
      issuer: FIXTURE_ISSUER,
      audiences: ['https://webhook.example'],
      issuedAt: new Date(1_795_451_640_000),
      expiresAt: new Date(1_795_452_240_000),
      verifiedBy: 'jwks',
      tokenFingerprint: tokenFingerprint(token),
    });
  });

  it('pod-bound token: boundObject Pod and the pod extras TokenReview reports', async () => {
    const { identity } = await verifyFixture('pod-bound', 'https://webhook.example');
    const review = fixtureJson<{ status: { user: { extra: Record<string, string[]> } } }>(
      'tokenreviews/pod-bound--01-pod-exists.response.json',
    );
    expect(identity.boundObject).toEqual({
      kind: 'Pod',
      name: 'p1',
      uid: '20bf01de-ceae-4872-b7ba-233ead1b5117',
      namespace: 'demo',
    });
    expect(identity.extra).toEqual(review.status.user.extra);
    expect(identity.staleAfter).toBeUndefined();
  });

  it('secret-bound token', async () => {
    const { identity } = await verifyFixture('secret-bound', 'https://webhook.example');
    expect(identity.boundObject).toEqual({
      kind: 'Secret',
      name: 'bindme',
      uid: 'c8418f43-fc11-42ef-b376-70afed033472',
      namespace: 'demo',
    });
    expect(identity.extra).toEqual({});
  });

  it('kubelet-style token: warnafter becomes staleAfter, exp a year out', async () => {
    const { identity } = await verifyFixture('pod-bound-kubelet-style-3607s', FIXTURE_ISSUER);
    expect(identity.staleAfter).toEqual(new Date(1_795_455_373_000));
    expect(identity.expiresAt).toEqual(new Date(1_826_987_766_000));
    expect(identity.boundObject?.kind).toBe('Pod');
  });

  it('48 h token with two audiences: only the overlap is reported', async () => {
    const { identity } = await verifyFixture('token-48h-2aud', ['b', 'c']);
    expect(identity.audiences).toEqual(['b']);
    expect(identity.expiresAt).toEqual(new Date(1_795_624_445_000));
  });

  it('legacy secret token: rejected by default, accepted (and warned about) with allowLegacyTokens', async () => {
    await expect(verifyFixture('legacy', FIXTURE_ISSUER)).rejects.toMatchObject({ code: 'legacy_token' });
    const token = fixtureText('tokens/legacy.jwt').trim();
    const logger = recordingLogger();
    const verifier = createVerifier({
      audience: 'https://webhook.example',
      issuer: FIXTURE_ISSUER,
      jwks: { keys: jwks },
      allowLegacyTokens: true,
      logger,
      env: {},
    });
    const identity = await verifier.verifyToken(token);
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:demo:webhook-client',
      uid: SA_UID,
      groups: GROUPS,
      boundObject: { kind: 'Secret', name: 'webhook-client-legacy', namespace: 'demo' },
      issuer: 'kubernetes/serviceaccount',
      signingIssuer: FIXTURE_ISSUER,
      audiences: [],
    });
    expect(identity.expiresAt).toBeUndefined();
    expect(logger.calls.some((call) => call.level === 'warn' && call.message.includes('legacy'))).toBe(true);
    // Even allowed, a legacy token signed by another key is refused.
    const forged = signJwt(makeKey('RS256'), {
      iss: 'kubernetes/serviceaccount',
      sub: 'system:serviceaccount:demo:x',
    });
    await expect(verifier.verifyToken(forged)).rejects.toMatchObject({ code: 'unknown_key' });
    await expect(
      verifier.verifyToken(
        signJwt(makeKey('RS256'), { iss: 'kubernetes/serviceaccount' }, { kid: undefined }),
      ),
    ).rejects.toMatchObject({ code: 'invalid_signature' });
  });
});

describe('newer claim layouts (1.29+, KEP-6060)', () => {
  const key = makeKey('ES256');
  const ISSUER = 'https://kubernetes.default.svc.cluster.local';
  const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
  const now = 1_795_451_640;
  const verifier = createVerifier({
    audience: AUDIENCE,
    issuer: ISSUER,
    jwks: { keys: jwksOf(key) as never },
    now: () => now * 1000,
    env: {},
  });
  const verify = (kubernetes: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    verifier.verifyToken(
      signJwt(key, kubeClaims({ issuer: ISSUER, audiences: [AUDIENCE], nowSeconds: now, kubernetes, extra })),
    );

  it('pod-bound token with node and jti (1.30)', async () => {
    const identity = await verify(
      { pod: { name: 'p1', uid: 'pod-uid' }, node: { name: 'node-a', uid: 'node-uid' } },
      { jti: '0f7a1c2e-jti' },
    );
    expect(identity.boundObject).toEqual({
      kind: 'Pod',
      name: 'p1',
      uid: 'pod-uid',
      namespace: 'kube-system',
    });
    expect(identity.node).toEqual({ name: 'node-a', uid: 'node-uid' });
    expect(identity.extra).toEqual({
      'authentication.kubernetes.io/pod-name': ['p1'],
      'authentication.kubernetes.io/pod-uid': ['pod-uid'],
      'authentication.kubernetes.io/node-name': ['node-a'],
      'authentication.kubernetes.io/node-uid': ['node-uid'],
      'authentication.kubernetes.io/credential-id': ['JTI=0f7a1c2e-jti'],
    });
  });

  it('node-bound token', async () => {
    const identity = await verify({ node: { name: 'node-a', uid: 'node-uid' } });
    expect(identity.boundObject).toEqual({ kind: 'Node', name: 'node-a', uid: 'node-uid' });
  });

  it('webhook token bound to a ValidatingWebhookConfiguration with an attestation', async () => {
    const identity = await verify({
      validatingwebhookconfiguration: { name: 'my-webhook', uid: 'vwc-uid' },
      attestations: { admissionReviewAPIGroups: ['apps'] },
    });
    expect(identity.boundObject).toEqual({
      kind: 'ValidatingWebhookConfiguration',
      name: 'my-webhook',
      uid: 'vwc-uid',
    });
    expect(identity.attestations).toEqual({ admissionReviewAPIGroups: ['apps'] });
    expect(identity.extra).toEqual({
      'authentication.kubernetes.io/validatingwebhookconfiguration-name': ['my-webhook'],
      'authentication.kubernetes.io/validatingwebhookconfiguration-uid': ['vwc-uid'],
      'attestation.authentication.kubernetes.io/admissionReviewAPIGroups': ['apps'],
    });
  });

  it('webhook token bound to a MutatingWebhookConfiguration attested for every group', async () => {
    const identity = await verify({
      mutatingwebhookconfiguration: { name: 'mutator', uid: 'mwc-uid' },
      attestations: { admissionReviewAPIGroups: ['*'] },
    });
    expect(identity.boundObject).toEqual({
      kind: 'MutatingWebhookConfiguration',
      name: 'mutator',
      uid: 'mwc-uid',
    });
    expect(identity.attestations?.admissionReviewAPIGroups).toEqual(['*']);
  });

  it('refuses attestations of the wrong shape', async () => {
    await expect(verify({ attestations: { admissionReviewAPIGroups: 'apps' } })).rejects.toMatchObject({
      code: 'malformed_token',
    });
    await expect(verify({ validatingwebhookconfiguration: { uid: 'x' } })).rejects.toMatchObject({
      code: 'malformed_token',
    });
  });
});
