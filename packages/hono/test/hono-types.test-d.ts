import type { ApiserverIdentity } from '@apiserver-token/core';
import {
  type ApiserverEnv,
  type ApiserverTokenMiddleware,
  verifyApiserverToken,
} from '@apiserver-token/hono';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it('types c.var.apiserver through the Variables of the routes it guards', () => {
    const guard = verifyApiserverToken({ audience: 'https://a.example/validate' });
    expectTypeOf(guard).toEqualTypeOf<ApiserverTokenMiddleware>();
    expectTypeOf(guard).toExtend<MiddlewareHandler<ApiserverEnv>>();
    new Hono().post('/validate', guard, (c) => {
      expectTypeOf(c.var.apiserver).toEqualTypeOf<ApiserverIdentity>();
      expectTypeOf(c.get('apiserver')).toEqualTypeOf<ApiserverIdentity>();
      return c.text('ok');
    });
    new Hono<ApiserverEnv>().use(guard).get('/', (c) => c.text(c.var.apiserver.username));
    new Hono().get('/open', (c) => {
      // @ts-expect-error: an unguarded route has no apiserver variable
      const name: string = c.var.apiserver.username;
      return c.text(name);
    });
    expectTypeOf(guard.ready).toEqualTypeOf<() => Promise<void>>();
  });

  it('types the options, hooks included', () => {
    verifyApiserverToken({
      errors: 'throw',
      onVerified(identity, c) {
        expectTypeOf(identity).toEqualTypeOf<ApiserverIdentity>();
        expectTypeOf(c).toEqualTypeOf<Context>();
      },
    });
    // @ts-expect-error: errors is 'respond' | 'throw'
    verifyApiserverToken({ errors: 'next' });
  });
});
