import { createVerifier } from '@apiserver-token/core';
import { verifyApiserverToken as expressMiddleware } from '@apiserver-token/express';
import { verifyApiserverToken as koaMiddleware } from '@apiserver-token/koa';
import { afterAll, describe, expect, it } from 'vitest';
import { jwksOf, kubeClaims, makeKey, signJwt } from '../packages/core/test/helpers/keys.js';

// The framework types, taken from the adapters' own signatures: express and koa are the adapters'
// dependencies, not the workspace root's.
type ExpressMiddleware = ReturnType<typeof expressMiddleware>;
type Request = Parameters<ExpressMiddleware>[0];
type Response = Parameters<ExpressMiddleware>[1];
type Context = Parameters<ReturnType<typeof koaMiddleware>>[0];

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const key = makeKey('ES256');
const verifier = createVerifier({
  audience: AUDIENCE,
  issuer: ISSUER,
  jwks: { keys: jwksOf(key) as never },
  inCluster: false,
  env: {},
  policy: { serviceAccounts: ['kube-system:*'] },
});
afterAll(() => verifier.close());

const token = signJwt(
  key,
  kubeClaims({ issuer: ISSUER, audiences: [AUDIENCE], nowSeconds: Date.now() / 1000 }),
);

describe('adapters on a cache hit', () => {
  it('Express calls next() in the same tick, with req.apiserver set', async () => {
    const middleware = expressMiddleware({ verifier });
    const req = { headers: { authorization: `Bearer ${token}` }, rawHeaders: [] } as unknown as Request;
    await new Promise<void>((resolve, reject) =>
      middleware(req, {} as Response, (error?: unknown) => (error ? reject(error) : resolve())),
    );
    let called = false;
    const again = { headers: req.headers, rawHeaders: [] } as unknown as Request;
    middleware(again, {} as Response, () => {
      called = true;
    });
    expect(called).toBe(true);
    expect(again.apiserver).toBe(req.apiserver);
  });

  it('Express still refuses several Authorization headers for a cached token', async () => {
    const middleware = expressMiddleware({ verifier, errors: 'next' });
    const req = {
      headers: { authorization: `Bearer ${token}` },
      rawHeaders: ['Authorization', `Bearer ${token}`, 'Authorization', `Bearer ${token}`],
    } as unknown as Request;
    const error = await new Promise<unknown>((resolve) => middleware(req, {} as Response, resolve));
    expect((error as { code?: string }).code).toBe('malformed_authorization');
    expect(req.apiserver).toBeUndefined();
  });

  it('Koa reaches next() without waiting for a microtask, and returns its promise', async () => {
    const middleware = koaMiddleware({ verifier });
    const ctx = () =>
      ({
        req: { headers: { authorization: `Bearer ${token}` }, rawHeaders: [] },
        request: {},
        state: {},
      }) as unknown as Context;
    await middleware(ctx(), async () => {});
    let called = false;
    const second = ctx();
    const result = middleware(second, async () => {
      called = true;
    });
    expect(called).toBe(true);
    expect(result).toBeInstanceOf(Promise);
    await result;
    expect(second.state.apiserver?.username).toBe('system:serviceaccount:kube-system:webhook-auth');
  });
});
