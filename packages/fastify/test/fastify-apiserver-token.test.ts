import { request as httpRequest } from 'node:http';
import {
  type ApiserverIdentity,
  ApiserverTokenConfigError,
  type ApiserverTokenError,
  createVerifier,
  ForbiddenIdentityError,
} from '@apiserver-token/core';
import fastifyApiserverTokenDefault, { fastifyApiserverToken } from '@apiserver-token/fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_AUDIENCE as AUDIENCE, admissionReview } from '../../../test/helpers/admission-review.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { FASTIFY_VERSIONS } from './helpers.js';

const kit = useTestApiserver();
const { mint } = kit;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A raw request with the headers exactly as listed (Node adds no Host of its own to an array). */
function rawPost(url: string, headers: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: 'POST',
      headers: ['host', '127.0.0.1', ...headers, 'content-length', '0'],
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

it('exports the plugin as default and named, wrapped by fastify-plugin for Fastify 4.x || 5.x', () => {
  expect(fastifyApiserverTokenDefault).toBe(fastifyApiserverToken);
  const meta = (fastifyApiserverToken as unknown as Record<symbol, { fastify?: string; name?: string }>)[
    Symbol.for('plugin-meta')
  ];
  expect(meta).toMatchObject({ fastify: '4.x || 5.x', name: '@apiserver-token/fastify' });
  expect((fastifyApiserverToken as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')]).toBe(
    true,
  );
});

describe.each(FASTIFY_VERSIONS)('%s', (_name, Fastify) => {
  /** Open /healthz; /validate and /other guarded inside an encapsulated scope. */
  async function scopedApp(
    pluginOptions: Parameters<typeof fastifyApiserverToken>[1],
  ): Promise<FastifyInstance> {
    const app = Fastify();
    app.get('/healthz', async (request) => ({ open: true, identity: request.apiserver ?? null }));
    await app.register(async (scope) => {
      await scope.register(fastifyApiserverToken, pluginOptions);
      scope.post('/validate', async (request) => ({ identity: request.apiserver }));
    });
    await app.ready();
    return app;
  }

  describe('registered inside an encapsulated scope', () => {
    let app: FastifyInstance;
    beforeAll(async () => {
      app = await scopedApp(kit.options);
    });
    afterAll(async () => {
      await app.close();
    });

    it('protects the routes of its scope and sets request.apiserver (inject)', async () => {
      const token = await mint();
      const res = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(token),
        payload: admissionReview('u1'),
      });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain(token);
      const { identity } = res.json() as { identity: ApiserverIdentity };
      expect(identity).toMatchObject({
        username: 'system:serviceaccount:kube-system:webhook-auth',
        serviceAccount: { namespace: 'kube-system', name: 'webhook-auth' },
        issuer: kit.api.issuer,
        audiences: [AUDIENCE],
        verifiedBy: 'jwks',
      });
    });

    it('leaves a route outside the scope open, with no identity', async () => {
      const res = await app.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ open: true, identity: null });
    });

    it('answers a missing token with 401, a bare Bearer challenge and no-store', async () => {
      const res = await app.inject({ method: 'POST', url: '/validate', payload: admissionReview('u1') });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.json()).toEqual({ error: 'missing_token', error_description: expect.any(String) });
    });

    const forged: Array<[string, () => Promise<string>, string]> = [
      ['a tampered signature', () => mint({ tamper: 'signature' }), 'invalid_signature'],
      ['a key the issuer never published', () => mint({ signWith: 'foreign' }), 'unknown_key'],
      [
        'another audience',
        () => mint({ audiences: ['https://other.example/validate'] }),
        'audience_mismatch',
      ],
      ['another issuer', () => mint({ issuer: 'https://evil.example' }), 'unknown_issuer'],
      [
        'an expired token',
        () => mint({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresIn: 3600 }),
        'expired',
      ],
    ];
    it.each(forged)('rejects %s with 401 and its code', async (_case, make, code) => {
      const token = await make();
      const res = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(token),
        payload: admissionReview('u1'),
      });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
      expect(res.json()).toEqual({
        error: code,
        error_description: 'the bearer token is missing or invalid',
      });
      expect(res.body).not.toContain(token.split('.')[2]!);
    });
  });

  it('guards every route when registered on the root instance', async () => {
    const app = Fastify();
    await app.register(fastifyApiserverToken, kit.options);
    app.get('/a', async (request) => ({ user: request.apiserver?.username }));
    app.get('/b', async () => ({ ok: true }));
    try {
      for (const url of ['/a', '/b']) expect((await app.inject({ url })).statusCode).toBe(401);
      const res = await app.inject({ url: '/a', headers: bearer(await mint()) });
      expect(res.json()).toEqual({ user: 'system:serviceaccount:kube-system:webhook-auth' });
    } finally {
      await app.close();
    }
  });

  it('works over a real socket, and refuses several Authorization headers', async () => {
    const app = await scopedApp(kit.options);
    try {
      const base = await app.listen({ port: 0, host: '127.0.0.1' });
      const token = await mint();
      const ok = await fetch(`${base}/validate`, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        body: JSON.stringify(admissionReview('u1')),
      });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ identity: { verifiedBy: 'jwks' } });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const twice = await rawPost(`${base}/validate`, [
        'authorization',
        `Bearer ${token}`,
        'authorization',
        'Bearer other',
      ]);
      expect(twice.status).toBe(401);
      expect(JSON.parse(twice.body)).toMatchObject({ error: 'malformed_authorization' });
    } finally {
      await app.close();
    }
  });

  it('sends 403 when onVerified rejects the identity, and 503 (never 500) when a hook throws anything else', async () => {
    const seen: Array<[unknown, string]> = [];
    const forbidding = await scopedApp({
      ...kit.options,
      onVerified(identity) {
        if (identity.serviceAccount?.name !== 'allowed') throw new ForbiddenIdentityError('not on the list');
      },
      onRejected: (error, request) => seen.push([error, request.url]),
    });
    const crashing = await scopedApp({
      ...kit.options,
      onVerified() {
        throw new TypeError('bug in a hook with a secret inside');
      },
    });
    try {
      const token = await mint();
      const forbidden = await forbidding.inject({ method: 'POST', url: '/validate', headers: bearer(token) });
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
      expect(forbidden.json()).toMatchObject({ error: 'forbidden' });
      expect(seen).toHaveLength(1);
      expect((seen[0]![0] as ApiserverTokenError).message).toBe('not on the list');
      expect(seen[0]![1]).toBe('/validate');
      const crashed = await crashing.inject({ method: 'POST', url: '/validate', headers: bearer(token) });
      expect(crashed.statusCode).toBe(503);
      expect(crashed.headers['retry-after']).toBe('5');
      expect(crashed.json()).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the request cannot be verified right now; retry later',
      });
      expect(crashed.body).not.toContain('secret');
    } finally {
      await forbidding.close();
      await crashing.close();
    }
  });

  it("answers AdmissionReviews with a denial in a preHandler (after body parsing) with respond: 'admission-review'", async () => {
    const app = await scopedApp({ ...kit.options, respond: 'admission-review' });
    try {
      const token = await mint({ audiences: ['https://other.example/validate'] });
      const res = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(token),
        payload: admissionReview('0b6c-uid'),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: '0b6c-uid',
          allowed: false,
          status: {
            status: 'Failure',
            code: 401,
            reason: 'Unauthorized',
            message: 'apiserver-token: the bearer token is missing or invalid (audience_mismatch)',
          },
        },
      });
      const plain = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(token),
        payload: { hello: 1 },
      });
      expect(plain.statusCode).toBe(401);
      const ok = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(await mint()),
        payload: admissionReview('u2'),
      });
      expect(ok.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('runs admission mode (KEP-6060) in preHandler on the parsed AdmissionReview', async () => {
    const WEBHOOK = { kind: 'ValidatingWebhookConfiguration' as const, name: 'my-webhook' };
    const webhookToken = (apiGroups: string[]) =>
      kit.api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups });
    const app = await scopedApp({ ...kit.options, admission: true });
    try {
      const ok = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(await webhookToken(['apps'])),
        payload: admissionReview('a-1'),
      });
      expect(ok.statusCode).toBe(200);
      const denied = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: bearer(await webhookToken(['batch'])),
        payload: admissionReview('a-2'),
      });
      expect(denied.statusCode).toBe(200);
      expect(denied.json()).toMatchObject({
        kind: 'AdmissionReview',
        response: { uid: 'a-2', allowed: false, status: { code: 403, reason: 'Forbidden' } },
      });
    } finally {
      await app.close();
    }
  });

  it('rejects before the body is read in onRequest mode (the default without admission-review)', async () => {
    const app = await scopedApp(kit.options);
    try {
      // Invalid JSON would be a 400 if the body were parsed first.
      const res = await app.inject({
        method: 'POST',
        url: '/validate',
        headers: { 'content-type': 'application/json' },
        payload: '{not json',
      });
      expect(res.statusCode).toBe(401);
      const late = await scopedApp({ ...kit.options, hook: 'preHandler' });
      try {
        const parsedFirst = await late.inject({
          method: 'POST',
          url: '/validate',
          headers: { 'content-type': 'application/json' },
          payload: '{not json',
        });
        expect(parsedFirst.statusCode).toBe(400);
      } finally {
        await late.close();
      }
    } finally {
      await app.close();
    }
  });

  it('leaves a shared verifier open when Fastify closes', async () => {
    const verifier = createVerifier(kit.options);
    const app = await scopedApp({ verifier });
    const token = await mint();
    expect((await app.inject({ method: 'POST', url: '/validate', headers: bearer(token) })).statusCode).toBe(
      200,
    );
    await app.close();
    await expect(verifier.verify({ headers: bearer(token) })).resolves.toMatchObject({ verifiedBy: 'jwks' });
    await verifier.close();
    await expect(verifier.verify({ headers: bearer(token) })).rejects.toThrow();
  });

  it('fails registration on bad options with ApiserverTokenConfigError', async () => {
    for (const bad of [
      { issuer: 'https://issuer.example', env: {}, inCluster: false },
      { ...kit.options, hook: 'onSend' },
      { ...kit.options, respond: 'xml' },
      // onRequest runs before the body is parsed: admission mode cannot work there.
      { ...kit.options, admission: true, hook: 'onRequest' },
      { ...kit.options, respond: 'admission-review', hook: 'onRequest' },
    ]) {
      const app = Fastify();
      await expect(app.register(fastifyApiserverToken, bad as never).ready()).rejects.toBeInstanceOf(
        ApiserverTokenConfigError,
      );
      await app.close().catch(() => undefined);
    }
  });
});
