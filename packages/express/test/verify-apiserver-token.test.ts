import { request } from 'node:http';
import {
  type ApiserverIdentity,
  ApiserverTokenConfigError,
  type ApiserverTokenError,
  createVerifier,
  ForbiddenIdentityError,
  isApiserverTokenError,
} from '@apiserver-token/core';
import { verifyApiserverToken } from '@apiserver-token/express';
import type { ErrorRequestHandler, Request } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WEBHOOK_AUDIENCE as AUDIENCE,
  admissionReview,
  postJson,
} from '../../../test/helpers/admission-review.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { EXPRESS_VERSIONS, listen } from './helpers.js';

const kit = useTestApiserver();
const { mint } = kit;

describe.each(EXPRESS_VERSIONS)('%s', (_name, express) => {
  /** An app whose protected route echoes the identity it saw. */
  async function start(guard: ReturnType<typeof verifyApiserverToken>, errorHandler?: ErrorRequestHandler) {
    const app = express();
    app.post('/validate', express.json(), guard, (req: Request, res) => {
      res.json({ identity: req.apiserver });
    });
    if (errorHandler !== undefined) app.use(errorHandler);
    return listen(app);
  }

  describe('with a verifier of its own', () => {
    let guard: ReturnType<typeof verifyApiserverToken>;
    let server: Awaited<ReturnType<typeof listen>>;
    beforeAll(async () => {
      guard = verifyApiserverToken(kit.options);
      server = await start(guard);
    });
    afterAll(async () => {
      await server.close();
      await guard.close();
    });

    it('lets a genuine token through and sets req.apiserver', async () => {
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
      expect(identity.groups).toContain('system:serviceaccounts:kube-system');
      expect(identity.tokenFingerprint).toMatch(/^[\w-]{6,}$/);
    });

    it('answers a request without a token with 401 and a bare Bearer challenge', async () => {
      const res = await postJson(server.url);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({ error: 'missing_token', error_description: expect.any(String) });
    });

    const forged: Array<[string, () => Promise<string>, string]> = [
      ['a tampered signature', () => mint({ tamper: 'signature' }), 'invalid_signature'],
      ['a tampered payload', () => mint({ tamper: 'payload' }), 'invalid_signature'],
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
        expect(text).not.toContain(token);
        expect(text).not.toContain(token.split('.')[2]!);
      },
    );

    it('rejects a malformed Authorization header with 401', async () => {
      for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a.b', 'Bearer  two  spaces']) {
        const res = await postJson(server.url, { authorization });
        expect(res.status, authorization).toBe(401);
        expect(['malformed_authorization', 'malformed_token', 'missing_token']).toContain(
          ((await res.json()) as { error: string }).error,
        );
      }
    });

    it('refuses two Authorization headers even when the first is genuine (Node keeps only the first)', async () => {
      const token = await mint();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${server.url}/validate`, {
          method: 'POST',
          // An array of raw headers: Node then adds no Host header of its own.
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
      expect(typeof guard.verifier.verify).toBe('function');
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
    const seen: unknown[] = [];
    const forbidding = verifyApiserverToken({
      ...kit.options,
      onVerified(identity) {
        if (identity.serviceAccount?.name !== 'allowed') throw new ForbiddenIdentityError('not on the list');
      },
      onRejected: (error) => seen.push(error),
    });
    const crashing = verifyApiserverToken({
      ...kit.options,
      onVerified() {
        throw new TypeError('bug in a hook with a secret inside');
      },
    });
    const app = express();
    app.post('/forbidding', forbidding, (_req, res) => {
      res.json({});
    });
    app.post('/crashing', crashing, (_req, res) => {
      res.json({});
    });
    const server = await listen(app);
    try {
      const token = await mint();
      const forbidden = await fetch(`${server.url}/forbidding`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(forbidden.status).toBe(403);
      expect(forbidden.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
      expect(await forbidden.json()).toMatchObject({ error: 'forbidden' });
      expect(seen).toHaveLength(1);
      expect((seen[0] as ApiserverTokenError).message).toBe('not on the list');

      const crashed = await fetch(`${server.url}/crashing`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(crashed.status).toBe(503);
      expect(crashed.headers.get('retry-after')).toBe('5');
      const text = await crashed.text();
      expect(JSON.parse(text)).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the request cannot be verified right now; retry later',
      });
      expect(text).not.toContain('secret');
    } finally {
      await server.close();
      await forbidding.close();
      await crashing.close();
    }
  });

  it('answers 503 with Retry-After while the issuer cannot be reached, then recovers', async () => {
    // A fresh verifier holds no keys yet: with discovery and JWKS down it cannot verify anything.
    const guard = verifyApiserverToken({ ...kit.options, jwks: { ca: kit.api.ca, timeout: 1000 } });
    const server = await start(guard);
    kit.api.setFault('*', { down: true });
    try {
      const token = await mint();
      const res = await postJson(server.url, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.headers.get('www-authenticate')).toBeNull();
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ error: 'issuer_unavailable' });
      expect(text).not.toContain(token);
      kit.api.clearFaults();
      await expect
        .poll(async () => (await postJson(server.url, { authorization: `Bearer ${token}` })).status, {
          timeout: 20_000,
          interval: 250,
        })
        .toBe(200);
    } finally {
      kit.api.clearFaults();
      await server.close();
      await guard.close();
    }
  });

  it("passes errors to the app's error handler with errors: 'next'", async () => {
    const guard = verifyApiserverToken({ ...kit.options, errors: 'next' });
    const received: unknown[] = [];
    const server = await start(guard, (error, _req, res, _next) => {
      received.push(error);
      const status = isApiserverTokenError(error) ? error.status : 503;
      res.status(status).json({ handledBy: 'app' });
    });
    try {
      const res = await postJson(server.url, {
        authorization: `Bearer ${await mint({ tamper: 'signature' })}`,
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ handledBy: 'app' });
      expect(received).toHaveLength(1);
      expect(isApiserverTokenError(received[0])).toBe(true);
      expect((received[0] as ApiserverTokenError).code).toBe('invalid_signature');
      expect((received[0] as ApiserverTokenError).headers['www-authenticate']).toMatch(/invalid_token/);
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
      // Not an AdmissionReview: the plain HTTP answer.
      const plain = await postJson(server.url, { authorization: `Bearer ${token}` }, { hello: 'world' });
      expect(plain.status).toBe(401);
      // A genuine token still passes.
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

  it('shares one verifier between apps and leaves it open on close()', async () => {
    const verifier = createVerifier(kit.options);
    const first = verifyApiserverToken({ verifier });
    const second = verifyApiserverToken({ verifier });
    expect(first.verifier).toBe(verifier);
    expect(second.verifier).toBe(verifier);
    const a = await start(first);
    const b = await start(second);
    try {
      const token = await mint();
      for (const server of [a, b]) {
        const res = await postJson(server.url, { authorization: `Bearer ${token}` });
        expect(res.status).toBe(200);
      }
      await first.close();
      // Still usable by the second app: the middleware does not own a verifier it was given.
      expect((await postJson(b.url, { authorization: `Bearer ${token}` })).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
      await verifier.close();
    }
  });
});

describe('configuration errors fail at construction', () => {
  it('without an audience', () => {
    expect(() =>
      verifyApiserverToken({ issuer: 'https://issuer.example', env: {}, inCluster: false }),
    ).toThrow(ApiserverTokenConfigError);
    try {
      verifyApiserverToken({ issuer: 'https://issuer.example', env: {}, inCluster: false });
    } catch (error) {
      expect((error as ApiserverTokenConfigError).field).toBe('audience');
    }
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
    expect(() => verifyApiserverToken({ ...kit.options, errors: 'throw' })).toThrow(
      ApiserverTokenConfigError,
    );
    // @ts-expect-error: not an allowed value
    expect(() => verifyApiserverToken({ ...kit.options, respond: 'json' })).toThrow(
      ApiserverTokenConfigError,
    );
  });
});
