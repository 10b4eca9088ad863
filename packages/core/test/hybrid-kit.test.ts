/**
 * The hybrid mode (local JWKS first, then TokenReview for revocation) and the three modes side
 * by side, over real sockets against the testing kit with the real `@kubernetes/client-node`.
 */
import { describe, expect, it } from 'vitest';
import { createVerifier, type VerifierOptions } from '../src/index.js';
import { kitSuite } from './helpers/kit-suite.js';
import { call, pool } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
// The verifier's own caches are under test: the kit's 10 s TokenReview success cache would hide
// a revocation from tokenReview.cacheTtl (1 s here), so it is off.
const kit = kitSuite({ tokenReviewCache: false });

async function webhook(mode: 'jwks' | 'tokenreview' | 'hybrid', options: Partial<VerifierOptions> = {}) {
  const verifier = createVerifier({
    audience: AUDIENCE,
    mode,
    ...(mode !== 'tokenreview' && { issuer: kit.api.issuer, jwks: { uri: kit.api.jwksUrl, ca: kit.api.ca } }),
    ...(mode !== 'jwks' && { kubeconfig: kit.api.kubeconfigPath }),
    env: {},
    ...options,
  });
  await verifier.ready();
  const server = await kit.serve(verifier);
  return server.url;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hybrid mode against the testing kit', () => {
  it("a deleted pod's token is accepted by jwks, rejected by tokenreview and hybrid", async () => {
    const short = { tokenReview: { cacheTtl: 1 } };
    const [jwks, review, hybrid] = await Promise.all([
      webhook('jwks'),
      webhook('tokenreview', short),
      webhook('hybrid', short),
    ]);
    kit.api.createObject('Pod', 'apps', 'web-0');
    const token = await kit.api.mintToken({
      namespace: 'apps',
      serviceAccount: 'web',
      audiences: [AUDIENCE],
      boundObject: { kind: 'Pod', name: 'web-0' },
    });
    for (const url of [jwks, review, hybrid]) expect((await call(url, token)).status).toBe(200);

    kit.api.deleteObject('Pod', 'apps', 'web-0');
    await sleep(1100); // past tokenReview.cacheTtl
    expect((await call(jwks, token)).status).toBe(200);
    const byReview = await call(review, token);
    expect(byReview.status).toBe(401);
    expect(byReview.body.error).toBe('token_rejected');
    const byHybrid = await call(hybrid, token);
    expect(byHybrid.status).toBe(401);
    expect(byHybrid.body.error).toBe('revoked');
    expect(byHybrid.headers['www-authenticate']).toContain('invalid_token');
  });

  it('merges the local and the apiserver identity; verifiedBy hybrid', async () => {
    const url = await webhook('hybrid');
    const token = await kit.api.mintWebhookToken({
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      audience: AUDIENCE,
      apiGroups: ['apps'],
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      expiresIn: 600,
      jti: true,
    });
    const result = await call(url, token);
    expect(result.status).toBe(200);
    const identity = result.body;
    const webhookUid = kit.api.getObject('ValidatingWebhookConfiguration', '', 'my-webhook')?.uid;
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      serviceAccount: { namespace: 'kube-system', name: 'webhook-auth' },
      boundObject: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook', uid: webhookUid },
      attestations: { admissionReviewAPIGroups: ['apps'] },
      issuer: kit.api.issuer,
      audiences: [AUDIENCE],
      verifiedBy: 'hybrid',
    });
    expect(Object.keys(identity.extra as object)).toEqual(
      expect.arrayContaining([
        'authentication.kubernetes.io/validatingwebhookconfiguration-name',
        'attestation.authentication.kubernetes.io/admissionReviewAPIGroups',
        'authentication.kubernetes.io/credential-id',
      ]),
    );
    const lifetime = Date.parse(identity.expiresAt as string) - Date.parse(identity.issuedAt as string);
    expect(lifetime).toBe(600_000);
    expect(kit.api.calls('tokenreviews')).toBe(1);
  });

  it('garbage and forged tokens never cost an apiserver call (tokenreview mode would send the forgeries)', async () => {
    const hybrid = await webhook('hybrid');
    const review = await webhook('tokenreview');
    const forged = await Promise.all([
      kit.api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign' }),
      kit.api.mintToken({ audiences: [AUDIENCE], tamper: 'signature' }),
      kit.api.mintToken({ audiences: [AUDIENCE], tamper: 'payload' }),
      kit.api.mintToken({ audiences: [AUDIENCE], issuer: 'https://evil.example' }),
      kit.api.mintToken({ audiences: ['https://other.example'] }),
    ]);
    const tokens = (index: number) =>
      index % 2 === 0 ? (forged[index % forged.length] as string) : `${index}.garbage.${Math.random()}`;
    const results = await pool(2000, 50, (index) => call(hybrid, tokens(index)));
    expect(results.every((result) => result.status === 401)).toBe(true);
    expect(kit.api.calls('tokenreviews')).toBe(0);

    // The same forgeries with our audience and no issuer check reach the apiserver in tokenreview
    // mode: only its answer stops them.
    for (const token of forged.slice(0, 3)) expect((await call(review, token)).status).toBe(401);
    expect(kit.api.calls('tokenreviews')).toBe(3);
  });

  it('caches the apiserver verdict for tokenReview.cacheTtl, then asks again', async () => {
    const url = await webhook('hybrid', { tokenReview: { cacheTtl: 1 }, cache: { ttl: 300 } });
    const token = await kit.api.mintToken({ audiences: [AUDIENCE] });
    await Promise.all(Array.from({ length: 50 }, () => call(url, token)));
    expect(kit.api.calls('tokenreviews')).toBe(1);
    await sleep(1100);
    expect((await call(url, token)).status).toBe(200);
    expect(kit.api.calls('tokenreviews')).toBe(2);
  });

  it('fails closed when the apiserver cannot answer: 503 with Retry-After, then recovers', async () => {
    const url = await webhook('hybrid', {
      tokenReview: { timeout: 200, deadline: 800, backoff: { initial: 50 } },
    });
    const token = await kit.api.mintToken({ audiences: [AUDIENCE] });
    kit.api.setFault('tokenreviews', { status: 503 });
    const during = await call(url, token);
    expect(during.status).toBe(503);
    expect(during.body.error).toBe('apiserver_unavailable');
    expect(during.headers['retry-after']).toBeDefined();
    kit.api.clearFaults();
    expect((await call(url, token)).status).toBe(200);
  });
});
