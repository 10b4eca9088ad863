import { request } from 'node:http';
import {
  type ApiserverIdentity,
  ApiserverTokenConfigError,
  type ApiserverTokenError,
  createVerifier,
  ForbiddenIdentityError,
  isApiserverTokenError,
} from '@apiserver-token/core';
import { type ApiserverTokenMiddleware, verifyApiserverToken } from '@apiserver-token/koa';
import type Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WEBHOOK_AUDIENCE as AUDIENCE,
  admissionReview,
  postJson,
} from '../../../test/helpers/admission-review.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { jsonBody, KOA_VERSIONS, listen } from './helpers.js';

const kit = useTestApiserver();
const { mint } = kit;

describe.each(KOA_VERSIONS)('%s', (_name, KoaApp) => {
  /** An app with an open /healthz and a guarded route that echoes the identity it saw. */
  function start(guard: ApiserverTokenMiddleware, errorHandler?: Koa.Middleware) {
    const app = new KoaApp();
    if (errorHandler !== undefined) app.use(errorHandler);
    app.use(async (ctx, next) => {
      if (ctx.path === '/healthz') {
        ctx.body = { open: true, identity: ctx.state.apiserver ?? null };
        return;
      }
      await next();
    });
    app.use(jsonBody);
    app.use(guard);
    app.use((ctx) => {
      ctx.body = { identity: ctx.state.apiserver };
    });
    return listen(app);
  }

  describe('with a verifier of its own', () => {
    let guard: ApiserverTokenMiddleware;
    let server: Awaited<ReturnType<typeof listen>>;
    beforeAll(async () => {
      guard = verifyApiserverToken(kit.options);
      server = await start(guard);
    });
    afterAll(async () => {
      await server.close();
      await guard.close();
    });

    it('lets a genuine token through and sets ctx.state.apiserver', async () => {
      const token = await mint();
      const res = await postJson(server.url, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(token);
      const { identity } = JSON.parse(text) as { identity: ApiserverIdentity };
      expect(identity).toMatchObject({
        username: 'system:serviceaccount:kube-system:webhook-auth',
        serviceAccount: { namespace: 'kube-system', name: 'webhook-auth' },
        issuer: kit.api.issuer,
        audiences: [AUDIENCE],
        verifiedBy: 'jwks',
      });
      expect(identity.tokenFingerprint).toMatch(/^[\w-]{6,}$/);
    });

    it('leaves routes before the middleware open', async () => {
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ open: true, identity: null });
    });

    it('answers a request without a token with 401 and a bare Bearer challenge', async () => {
      const res = await postJson(server.url);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toEqual({ error: 'missing_token', error_description: expect.any(String) });
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
    it.each(forged)(
      'rejects %s with 401 and its code, never echoing the token',
      async (_case, make, code) => {
        const token = await make();
        const res = await postJson(server.url, { authorization: `Bearer ${token}` });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
        const text = await res.text();
        expect(JSON.parse(text)).toEqual({
          error: code,
          error_description: 'the bearer token is missing or invalid',
        });
        expect(text).not.toContain(token.split('.')[2]!);
      },
    );

    it('refuses two Authorization headers even when the first is genuine', async () => {
      const token = await mint();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${server.url}/validate`, {
          method: 'POST',
          headers: [
            'host',
            '127.0.0.1',
            'authorization',
            `Bearer ${token}`,
            'authorization',
            'Bearer other',
            'content-length',
            '0',
          ],
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(401);
    });

    it('exposes the verifier, ready() and close()', async () => {
      await expect(guard.ready()).resolves.toBeUndefined();
      const token = await mint();
      await expect(
        guard.verifier.verify({ headers: { authorization: `Bearer ${token}` } }),
      ).resolves.toMatchObject({
        verifiedBy: 'jwks',
      });
    });
  });

  it('sends 403 when onVerified rejects the identity, and 503 (never 500) when a hook throws anything else', async () => {
    const seen: Array<[unknown, Koa.Context]> = [];
    const forbidding = verifyApiserverToken({
      ...kit.options,
      onVerified(identity) {
        if (identity.serviceAccount?.name !== 'allowed') throw new ForbiddenIdentityError('not on the list');
      },
      onRejected: (error, ctx) => seen.push([error, ctx]),
    });
    const crashing = verifyApiserverToken({
      ...kit.options,
      onVerified() {
        throw new TypeError('bug in a hook with a secret inside');
      },
    });
    const a = await start(forbidding);
    const b = await start(crashing);
    try {
      const token = await mint();
      const forbidden = await postJson(a.url, { authorization: `Bearer ${token}` });
      expect(forbidden.status).toBe(403);
      expect(forbidden.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
      expect(await forbidden.json()).toMatchObject({ error: 'forbidden' });
      expect(seen).toHaveLength(1);
      expect((seen[0]![0] as ApiserverTokenError).message).toBe('not on the list');
      expect(seen[0]![1].path).toBe('/validate');

      const crashed = await postJson(b.url, { authorization: `Bearer ${token}` });
      expect(crashed.status).toBe(503);
      expect(crashed.headers.get('retry-after')).toBe('5');
      const text = await crashed.text();
      expect(JSON.parse(text)).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the request cannot be verified right now; retry later',
      });
      expect(text).not.toContain('secret');
    } finally {
      await a.close();
      await b.close();
      await forbidding.close();
      await crashing.close();
    }
  });

  it("throws errors to the app's error handling with errors: 'throw'", async () => {
    const guard = verifyApiserverToken({ ...kit.options, errors: 'throw' });
    const received: unknown[] = [];
    const server = await start(guard, async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        received.push(error);
        ctx.status = isApiserverTokenError(error) ? error.status : 503;
        ctx.body = { handledBy: 'app' };
      }
    });
    try {
      const res = await postJson(server.url, {
        authorization: `Bearer ${await mint({ tamper: 'signature' })}`,
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ handledBy: 'app' });
      expect(received).toHaveLength(1);
      expect((received[0] as ApiserverTokenError).code).toBe('invalid_signature');
    } finally {
      await server.close();
      await guard.close();
    }
  });

  it("lets Koa's default error handler render a thrown error without its precise message", async () => {
    const guard = verifyApiserverToken({ ...kit.options, errors: 'throw' });
    const app = new KoaApp();
    app.silent = true;
    app.use(guard);
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const server = await listen(app);
    try {
      const res = await fetch(`${server.url}/`, {
        headers: { authorization: `Bearer ${await mint({ issuer: 'https://evil.example' })}` },
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      expect(await res.text()).toBe('Unauthorized');
    } finally {
      await server.close();
      await guard.close();
    }
  });

  it("answers AdmissionReviews with a denial (HTTP 200, uid echoed) with respond: 'admission-review'", async () => {
    const guard = verifyApiserverToken({ ...kit.options, respond: 'admission-review' });
    const server = await start(guard);
    try {
      const token = await mint({ audiences: ['https://other.example/validate'] });
      const res = await postJson(
        server.url,
        { authorization: `Bearer ${token}` },
        admissionReview('0b6c3c40-uid'),
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: '0b6c3c40-uid',
          allowed: false,
          status: {
            status: 'Failure',
            code: 401,
            reason: 'Unauthorized',
            message: 'apiserver-token: the bearer token is missing or invalid (audience_mismatch)',
          },
        },
      });
      const plain = await postJson(server.url, { authorization: `Bearer ${token}` }, { hello: 'world' });
      expect(plain.status).toBe(401);
      const ok = await postJson(
        server.url,
        { authorization: `Bearer ${await mint()}` },
        admissionReview('u2'),
      );
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ identity: { verifiedBy: 'jwks' } });
    } finally {
      await server.close();
      await guard.close();
    }
  });

  describe('admission mode (KEP-6060 attestations)', () => {
    const WEBHOOK = { kind: 'ValidatingWebhookConfiguration' as const, name: 'my-webhook' };
    const webhookToken = (apiGroups: string[]) =>
      kit.api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups });

    /** No body parser at all: the middleware reads the AdmissionReview from the stream. */
    async function startWithoutParser(guard: ApiserverTokenMiddleware) {
      const app = new KoaApp();
      app.use(guard);
      app.use((ctx) => {
        const body = (ctx.request as { body?: { request?: { uid?: string } } }).body;
        ctx.body = { uid: body?.request?.uid ?? null, caller: ctx.state.apiserver?.username };
      });
      return listen(app);
    }

    it('reads the AdmissionReview from the stream, checks the attested group and hands the body on', async () => {
      const guard = verifyApiserverToken({ ...kit.options, admission: true });
      const server = await startWithoutParser(guard);
      try {
        const ok = await postJson(
          server.url,
          { authorization: `Bearer ${await webhookToken(['apps'])}` },
          admissionReview('s-1'),
        );
        expect(ok.status).toBe(200);
        expect(await ok.json()).toEqual({
          uid: 's-1',
          caller: expect.stringMatching(/^system:serviceaccount:/),
        });

        const denied = await postJson(
          server.url,
          { authorization: `Bearer ${await webhookToken(['batch'])}` },
          admissionReview('s-2'),
        );
        expect(denied.status).toBe(200);
        expect(await denied.json()).toMatchObject({
          kind: 'AdmissionReview',
          response: { uid: 's-2', allowed: false, status: { code: 403, reason: 'Forbidden' } },
        });
      } finally {
        await server.close();
        await guard.close();
      }
    });

    it('uses the body a parser mounted before it has read', async () => {
      const guard = verifyApiserverToken({ ...kit.options, admission: true });
      const server = await start(guard);
      try {
        const ok = await postJson(
          server.url,
          { authorization: `Bearer ${await webhookToken(['*'])}` },
          admissionReview('p-1'),
        );
        expect(ok.status).toBe(200);
        expect(await ok.json()).toMatchObject({ identity: { verifiedBy: 'jwks' } });
        const bad = await postJson(
          server.url,
          { authorization: `Bearer ${await webhookToken(['*'])}` },
          { not: 'a review' },
        );
        expect(bad.status).toBe(400);
        expect(await bad.json()).toMatchObject({ error: 'malformed_admission_review' });
      } finally {
        await server.close();
        await guard.close();
      }
    });
  });

  it('shares one verifier between apps and leaves it open on close()', async () => {
    const verifier = createVerifier(kit.options);
    const first = verifyApiserverToken({ verifier });
    const second = verifyApiserverToken({ verifier });
    expect(first.verifier).toBe(verifier);
    const a = await start(first);
    const b = await start(second);
    try {
      const token = await mint();
      for (const server of [a, b])
        expect((await postJson(server.url, { authorization: `Bearer ${token}` })).status).toBe(200);
      await first.close();
      expect((await postJson(b.url, { authorization: `Bearer ${token}` })).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
      await verifier.close();
    }
  });
});

describe('configuration errors fail at construction', () => {
  it('without an audience, naming the field', () => {
    let caught: unknown;
    try {
      verifyApiserverToken({ issuer: 'https://issuer.example', env: {}, inCluster: false });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ApiserverTokenConfigError);
    expect((caught as ApiserverTokenConfigError).field).toBe('audience');
  });

  it('when a shared verifier is combined with verifier options', () => {
    const verifier = createVerifier(kit.options);
    try {
      expect(() => verifyApiserverToken({ verifier, audience: AUDIENCE })).toThrowError(
        /`audience`.*verifier/,
      );
    } finally {
      void verifier.close();
    }
  });

  it('for unknown values of errors and respond', () => {
    // @ts-expect-error: not an allowed value
    expect(() => verifyApiserverToken({ ...kit.options, errors: 'next' })).toThrow(ApiserverTokenConfigError);
    // @ts-expect-error: not an allowed value
    expect(() => verifyApiserverToken({ ...kit.options, respond: 'json' })).toThrow(
      ApiserverTokenConfigError,
    );
  });
});
