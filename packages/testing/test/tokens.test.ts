import { createPublicKey, verify } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SigningAlgorithm,
  startTestApiserver,
  type TestApiserver,
  webhookAudience,
} from '../src/index.js';
import { decodeJwt, fixtureJson, shapeOf } from './helpers.js';

type Recorded = { header: Record<string, unknown>; claims: Record<string, unknown> };
const recorded = (name: string) => fixtureJson<Recorded>(`tokens/${name}.json`);

describe('minted tokens', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver({ kubernetesVersion: '1.28' });
  });
  afterAll(() => api.close());

  const jwks = () => createLocalJWKSet(api.jwks() as never);

  it('plain token: same header and claim layout as kubectl create token --audience', async () => {
    const fixture = recorded('token');
    const token = await api.mintToken({
      namespace: 'demo',
      serviceAccount: 'webhook-client',
      audiences: ['https://webhook.example'],
      issuedAt: 1795451640,
      expiresIn: 600,
    });
    const { header, claims } = decodeJwt(token);
    expect(Object.keys(header)).toEqual(Object.keys(fixture.header));
    expect(header).toEqual({ alg: 'RS256', kid: api.keys()[0]!.kid });
    expect(shapeOf(claims)).toEqual(shapeOf(fixture.claims));
    const uid = api.getObject('ServiceAccount', 'demo', 'webhook-client')!.uid;
    expect(claims).toEqual({
      ...fixture.claims,
      iss: api.issuer,
      'kubernetes.io': { namespace: 'demo', serviceaccount: { name: 'webhook-client', uid } },
    });
  });

  it('default audience is the apiserver audience, lifetime 3600 s, nbf = iat = now', async () => {
    const fixture = recorded('token-default');
    const before = Math.floor(Date.now() / 1000);
    const { claims } = decodeJwt(
      await api.mintToken({ namespace: 'demo', serviceAccount: 'webhook-client' }),
    );
    expect(shapeOf(claims)).toEqual(shapeOf(fixture.claims));
    expect(claims.aud).toEqual([api.issuer]);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.nbf).toBe(claims.iat);
    expect(claims.exp).toBe((claims.iat as number) + 3600);
  });

  it('two audiences, pod-bound, secret-bound and kubelet-style tokens match the recorded layouts', async () => {
    const cases: Array<[string, Parameters<TestApiserver['mintToken']>[0]]> = [
      ['token-48h-2aud', { audiences: ['a', 'b'], expiresIn: 172800 }],
      ['pod-bound', { audiences: ['https://webhook.example'], boundObject: { kind: 'Pod', name: 'p1' } }],
      [
        'secret-bound',
        { audiences: ['https://webhook.example'], boundObject: { kind: 'Secret', name: 'bindme' } },
      ],
      [
        'pod-bound-kubelet-style-3607s',
        {
          boundObject: { kind: 'Pod', name: 'p1' },
          issuedAt: 1795451766,
          expiresIn: 31536000,
          warnAfter: 1795455373,
        },
      ],
    ];
    for (const [name, options] of cases) {
      const fixture = recorded(name);
      const { header, claims } = decodeJwt(
        await api.mintToken({ namespace: 'demo', serviceAccount: 'webhook-client', ...options }),
      );
      expect(Object.keys(header), name).toEqual(Object.keys(fixture.header));
      expect(shapeOf(claims), name).toEqual(shapeOf(fixture.claims));
      expect(claims.aud, name).toEqual(name.includes('kubelet') ? [api.issuer] : fixture.claims.aud);
    }
  });

  it('legacy secret token matches the recorded legacy layout and is stored in its Secret', async () => {
    const fixture = recorded('legacy');
    const token = await api.mintLegacyToken({
      namespace: 'demo',
      serviceAccount: 'webhook-client',
      secretName: 'webhook-client-legacy',
    });
    const { header, claims } = decodeJwt(token);
    expect(Object.keys(header)).toEqual(Object.keys(fixture.header));
    expect(Object.keys(claims)).toEqual(Object.keys(fixture.claims));
    expect(claims).toEqual({
      ...fixture.claims,
      'kubernetes.io/serviceaccount/service-account.uid': api.getObject(
        'ServiceAccount',
        'demo',
        'webhook-client',
      )!.uid,
    });
    expect(api.getObject('Secret', 'demo', 'webhook-client-legacy')).toBeDefined();
  });

  it('1.29/1.30 claims: jti and node are optional extras', async () => {
    const { claims } = decodeJwt(
      await api.mintToken({ jti: true, boundObject: { kind: 'Pod', name: 'p2' }, node: { name: 'node-1' } }),
    );
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(claims)).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'kubernetes.io', 'nbf', 'sub']);
    const k8s = claims['kubernetes.io'] as Record<string, { name: string; uid: string }>;
    expect(Object.keys(k8s)).toEqual(['namespace', 'node', 'pod', 'serviceaccount']);
    expect(k8s.node).toEqual({ name: 'node-1', uid: api.getObject('Node', '', 'node-1')!.uid });
  });

  it('webhook tokens (KEP-6060): one audience, 600 s, bound to the configuration, attested groups', async () => {
    const token = await api.mintWebhookToken({
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      audience: { namespace: 'my-ns', name: 'my-webhook', path: '/validate' },
      apiGroups: ['apps'],
    });
    const { claims } = decodeJwt(token);
    expect(claims.aud).toEqual(['https://my-webhook.my-ns.svc:443/validate']);
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
    expect(claims.sub).toBe('system:serviceaccount:kube-system:webhook-auth');
    expect(claims['kubernetes.io']).toEqual({
      attestations: { admissionReviewAPIGroups: ['apps'] },
      namespace: 'kube-system',
      serviceaccount: {
        name: 'webhook-auth',
        uid: api.getObject('ServiceAccount', 'kube-system', 'webhook-auth')!.uid,
      },
      validatingwebhookconfiguration: {
        name: 'my-webhook',
        uid: api.getObject('ValidatingWebhookConfiguration', '', 'my-webhook')!.uid,
      },
    });
    const mutating = decodeJwt(
      await api.mintWebhookToken({
        webhook: { kind: 'MutatingWebhookConfiguration', name: 'm', uid: 'fixed-uid' },
        audience: 'https://hooks.example/mutate',
      }),
    ).claims['kubernetes.io'] as Record<string, unknown>;
    expect(mutating.mutatingwebhookconfiguration).toEqual({ name: 'm', uid: 'fixed-uid' });
    expect(mutating.attestations).toEqual({ admissionReviewAPIGroups: ['*'] });
    expect(webhookAudience({ namespace: 'n', name: 's', port: 8443, path: 'x' })).toBe(
      'https://s.n.svc:8443/x',
    );
    await expect(
      api.mintWebhookToken({ webhook: { kind: 'Pod' as never, name: 'x' }, audience: 'a' }),
    ).rejects.toThrow(/webhook.kind/);
  });

  it.each<SigningAlgorithm>(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'ES512'])(
    '%s tokens verify with jose against the published JWKS',
    async (alg) => {
      const token = await api.mintToken({ alg, audiences: ['x'] });
      const { protectedHeader, payload } = await jwtVerify(token, jwks(), {
        issuer: api.issuer,
        audience: 'x',
      });
      expect(protectedHeader).toEqual({ alg, kid: api.keys().find((k) => k.alg === alg)!.kid });
      expect(payload.aud).toEqual(['x']);
    },
  );

  it('EC signatures are raw r||s (64 bytes for ES256)', async () => {
    const token = await api.mintToken({ alg: 'ES256' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const signature = Buffer.from(s, 'base64url');
    expect(signature).toHaveLength(64);
    const jwk = api.jwks().keys.find((k) => k.alg === 'ES256')!;
    const key = createPublicKey({ key: jwk as never, format: 'jwk' });
    expect(verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(
      true,
    );
  });

  it('forgeries: foreign key, real kid on a foreign key, wrong issuer, tampering, extra header, removed claims', async () => {
    const realKid = api.keys()[0]!.kid;
    const foreign = await api.mintToken({ signWith: 'foreign' });
    expect(decodeJwt(foreign).header.kid).not.toBe(realKid);
    await expect(jwtVerify(foreign, jwks())).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    const foreignRealKid = await api.mintToken({ signWith: 'foreign', kid: realKid });
    await expect(jwtVerify(foreignRealKid, jwks())).rejects.toBeInstanceOf(
      errors.JWSSignatureVerificationFailed,
    );
    const evil = await api.mintToken({ issuer: 'https://evil.example' });
    await expect(jwtVerify(evil, jwks(), { issuer: api.issuer })).rejects.toBeInstanceOf(
      errors.JWTClaimValidationFailed,
    );
    for (const tamper of ['signature', 'payload'] as const) {
      await expect(jwtVerify(await api.mintToken({ tamper }), jwks())).rejects.toBeInstanceOf(
        errors.JWSSignatureVerificationFailed,
      );
    }
    const odd = decodeJwt(
      await api.mintToken({ kid: null, header: { typ: 'JWT' }, claims: { nbf: undefined, extra: 1 } }),
    );
    expect(odd.header).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(odd.claims.nbf).toBeUndefined();
    expect(odd.claims.extra).toBe(1);
  });

  it('rotateKeys keeps the previous key for the overlap, then drops it', async () => {
    let now = Date.now();
    await using kit = await startTestApiserver({ now: () => now });
    const oldKid = kit.keys()[0]!.kid;
    const oldToken = await kit.mintToken({ audiences: ['x'] });
    const newKid = kit.rotateKeys({ overlapSeconds: 300 });
    expect(newKid).not.toBe(oldKid);
    expect(kit.jwks().keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    expect(kit.keys().map((k) => k.active)).toEqual([false, true]);
    expect(decodeJwt(await kit.mintToken()).header.kid).toBe(newKid);
    expect(kit.reviewToken(oldToken, ['x']).ok).toBe(true);
    now += 301_000;
    expect(kit.jwks().keys.map((k) => k.kid)).toEqual([newKid]);
    expect(kit.reviewToken(oldToken, ['x'])).toEqual({
      ok: false,
      // 1.36: the old token's kid names no published key any more.
      error: '[invalid bearer token, invalid signature, no keys found]',
    });
    // Without an overlap the previous key stays until the next rotation, which drops it.
    const third = kit.rotateKeys();
    expect(kit.jwks().keys.map((k) => k.kid)).toEqual([newKid, third]);
    const fourth = kit.rotateKeys();
    expect(kit.jwks().keys.map((k) => k.kid)).toEqual([third, fourth]);
    kit.rotateKeys({ overlapSeconds: 0 });
    expect(kit.jwks().keys).toHaveLength(1);
    expect(kit.dropKey(kit.keys()[0]!.kid)).toBe(true);
    expect(kit.jwks().keys).toHaveLength(0);
  });
});
