import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, type PublicJwk, startTestApiserver, type TestApiserver } from '../src/index.js';
import { call, fixtureJson, fixtureText, shapeOf } from './helpers.js';

const recordedJwks = fixtureJson<{ keys: PublicJwk[] }>('discovery/jwks.json');
const recordedConfig = fixtureJson<Record<string, unknown>>('discovery/openid-configuration.json');

function recordedHeaders(file: string): Record<string, string> {
  const lines = fixtureText(file).split('\n').slice(1);
  return Object.fromEntries(
    lines
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

function recordedStatus(file: string): { body: unknown; code: number } {
  const text = fixtureText(file);
  const at = text.lastIndexOf('HTTP ');
  return { body: JSON.parse(text.slice(0, at)), code: Number(text.slice(at + 5).trim()) };
}

describe('discovery and JWKS', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());

  it('serves the openid-configuration of a real kube-apiserver, key by key', async () => {
    const res = await call(api, '/.well-known/openid-configuration');
    expect(res.status).toBe(200);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(Object.keys(recordedConfig));
    expect(shapeOf(body)).toEqual(shapeOf(recordedConfig));
    expect(body).toEqual({
      issuer: api.url,
      jwks_uri: `${api.url}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    });
    expect(api.issuer).toBe(api.url);
    const recorded = recordedHeaders('discovery/openid-configuration.headers.txt');
    expect(res.headers['content-type']).toBe(recorded['content-type']);
    expect(res.headers['cache-control']).toBe(recorded['cache-control']);
    // Compact JSON, as recorded (content-length 213 for the recorded issuer).
    expect(res.text).toBe(JSON.stringify(body));
  });

  it('serves the JWKS with the recorded headers and JWK layout', async () => {
    const res = await call(api, '/openid/v1/jwks');
    expect(res.status).toBe(200);
    const recorded = recordedHeaders('discovery/jwks.headers.txt');
    expect(res.headers['content-type']).toBe('application/jwk-set+json');
    expect(res.headers['content-type']).toBe(recorded['content-type']);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    const jwks = res.json() as { keys: PublicJwk[] };
    expect(jwks.keys).toHaveLength(1);
    expect(Object.keys(jwks)).toEqual(Object.keys(recordedJwks));
    expect(Object.keys(jwks.keys[0]!)).toEqual(Object.keys(recordedJwks.keys[0]!));
    expect(shapeOf(jwks)).toEqual(shapeOf(recordedJwks));
    expect(jwks.keys[0]).toMatchObject({ use: 'sig', kty: 'RSA', alg: 'RS256', e: 'AQAB' });
    // 2048-bit modulus, like the recorded key.
    expect(Buffer.from(jwks.keys[0]!.n!, 'base64url')).toHaveLength(
      Buffer.from(recordedJwks.keys[0]!.n!, 'base64url').length,
    );
  });

  it('derives kid as base64url(SHA-256(DER SPKI)), reproducing the recorded kid', async () => {
    const recordedKey = recordedJwks.keys[0]!;
    const publicKey = createPublicKey({
      key: { kty: 'RSA', n: recordedKey.n!, e: recordedKey.e! },
      format: 'jwk',
    });
    expect(keyIdOf(publicKey)).toBe(recordedKey.kid);
    const jwks = (await call(api, '/openid/v1/jwks')).json() as { keys: PublicJwk[] };
    for (const jwk of jwks.keys) {
      expect(
        keyIdOf(createPublicKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' })),
      ).toBe(jwk.kid);
    }
  });

  it('reproduces the recorded anonymous 403 and bad-token 401 in authenticated mode', async () => {
    await using strict = await startTestApiserver({ discovery: 'authenticated' });
    const anonymous = await call(strict, '/openid/v1/jwks');
    const recorded403 = recordedStatus('discovery/jwks.anonymous-before-binding.txt');
    expect(anonymous.status).toBe(recorded403.code);
    expect(anonymous.json()).toEqual(recorded403.body);

    const wrongAudience = await strict.mintToken({ audiences: ['https://webhook.example'] });
    const rejected = await call(strict, '/openid/v1/jwks', { token: wrongAudience });
    const recorded401 = recordedStatus('discovery/jwks.with-wrong-audience-token.txt');
    expect(rejected.status).toBe(recorded401.code);
    expect(rejected.json()).toEqual(recorded401.body);

    // Any token the apiserver accepts (here: one for its own audience) can read discovery.
    const good = await strict.mintToken();
    expect((await call(strict, '/openid/v1/jwks', { token: good })).status).toBe(200);
    expect(
      (await call(strict, '/.well-known/openid-configuration', { token: strict.reviewer.token })).status,
    ).toBe(200);
    const forbidden = await call(strict, '/.well-known/openid-configuration');
    expect(forbidden.status).toBe(403);
    expect((forbidden.json() as { message: string }).message).toBe(
      'forbidden: User "system:anonymous" cannot get path "/.well-known/openid-configuration"',
    );
  });

  it('anonymous mode (the default) still answers 401 to a rejected bearer token', async () => {
    const res = await call(api, '/openid/v1/jwks', { token: 'not-a-valid-token' });
    expect(res.status).toBe(401);
    expect((res.json() as { reason: string }).reason).toBe('Unauthorized');
  });

  it('honours issuer, jwksUri, algorithms and discoveryMaxAge options', async () => {
    await using custom = await startTestApiserver({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      algorithms: ['ES256', 'RS256'],
      discoveryMaxAge: 60,
    });
    const res = await call(custom, '/.well-known/openid-configuration');
    expect(res.headers['cache-control']).toBe('public, max-age=60');
    expect(res.json()).toMatchObject({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      jwks_uri: 'https://kubernetes.default.svc.cluster.local/openid/v1/jwks',
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
    });
    const jwks = (await call(custom, '/openid/v1/jwks')).json() as { keys: PublicJwk[] };
    expect(jwks.keys.map((k) => k.kty)).toEqual(['EC', 'RSA']);
    expect(Object.keys(jwks.keys[0]!)).toEqual(['use', 'kty', 'kid', 'crv', 'alg', 'x', 'y']);
    expect(jwks.keys[0]).toMatchObject({ crv: 'P-256', alg: 'ES256' });
    expect(custom.jwksUrl).toBe(`${custom.url}/openid/v1/jwks`);
    // The default signing algorithm is the first one listed.
    const token = await custom.mintToken();
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks as never), {
      issuer: 'https://kubernetes.default.svc.cluster.local',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe('system:serviceaccount:default:default');
  });

  it('two keys as the recorded v1.36.3 two-keys cluster: JWKS in flag order, algorithms sorted', async () => {
    const recorded = (name: string) =>
      JSON.parse(
        readFileSync(
          new URL(
            `../../../test/fixtures/kube-apiserver-v1.36.3/two-keys/discovery/${name}`,
            import.meta.url,
          ),
          'utf8',
        ),
      ) as Record<string, unknown> & { keys: PublicJwk[] };
    // The recorded cluster got an RSA key, then an EC key (--service-account-key-file order).
    await using twoKeys = await startTestApiserver({ algorithms: ['RS256', 'ES256'] });
    const configuration = (await call(twoKeys, '/.well-known/openid-configuration')).json() as Record<
      string,
      unknown
    >;
    expect(configuration).toEqual({
      ...recorded('openid-configuration.json'),
      issuer: twoKeys.issuer,
      jwks_uri: twoKeys.jwksUrl,
    });
    expect(configuration.id_token_signing_alg_values_supported).toEqual(['ES256', 'RS256']);
    const jwks = (await call(twoKeys, '/openid/v1/jwks')).json() as { keys: PublicJwk[] };
    const layout = (keys: PublicJwk[]) => keys.map((k) => [k.kty, k.alg, Object.keys(k)]);
    expect(layout(jwks.keys)).toEqual(layout(recorded('jwks.json').keys));
  });

  it('rejects bad options with the field name', async () => {
    await expect(startTestApiserver({ discovery: 'public' as never })).rejects.toThrow(/discovery/);
    await expect(startTestApiserver({ algorithms: ['HS256' as never] })).rejects.toThrow(/algorithms/);
    await expect(startTestApiserver({ port: -1 })).rejects.toThrow(/port/);
  });

  it('answers unknown paths with 403 to anonymous callers and health probes with ok', async () => {
    const res = await call(api, '/api/v1/namespaces');
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      message:
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope',
      code: 403,
    });
    expect((await call(api, '/readyz')).text).toBe('ok');
  });

  it('writes a kubeconfig and CA file, and close() removes them and frees the port', async () => {
    const kit = await startTestApiserver();
    expect(readFileSync(kit.kubeconfigPath, 'utf8')).toContain(`server: "${kit.url}"`);
    expect(readFileSync(kit.caPath, 'utf8')).toBe(kit.ca);
    const { port, tempDir } = kit;
    await kit.close();
    await kit.close(); // idempotent
    expect(existsSync(tempDir)).toBe(false);
    expect(existsSync(kit.kubeconfigPath)).toBe(false);
    await expect(call(kit, '/readyz')).rejects.toThrow();
    // The port is free again: something else can listen on it.
    const probe = createServer();
    await new Promise<void>((resolve, reject) =>
      probe.once('error', reject).listen(port, '127.0.0.1', resolve),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });
});
