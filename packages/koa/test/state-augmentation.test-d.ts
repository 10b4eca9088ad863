import type { ApiserverIdentity } from '@apiserver-token/core';
import {
  type ApiserverState,
  type ApiserverTokenMiddleware,
  verifyApiserverToken,
} from '@apiserver-token/koa';
import Koa from 'koa';
import { describe, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it("augments Koa's DefaultState, so ctx.state.apiserver is typed in apps without a state type", () => {
    expectTypeOf<Koa.DefaultState['apiserver']>().toEqualTypeOf<ApiserverIdentity | undefined>();
    const app = new Koa();
    app.use(verifyApiserverToken({ audience: 'https://a.example' }));
    app.use((ctx) => {
      expectTypeOf(ctx.state.apiserver).toEqualTypeOf<ApiserverIdentity | undefined>();
    });
  });

  it('types ctx.state.apiserver in apps with their own state type', () => {
    interface MyState {
      requestId: string;
    }
    const app = new Koa<MyState & ApiserverState>();
    app.use(verifyApiserverToken({ audience: 'https://a.example' }));
    app.use((ctx) => {
      expectTypeOf(ctx.state.apiserver).toEqualTypeOf<ApiserverIdentity | undefined>();
      expectTypeOf(ctx.state.requestId).toEqualTypeOf<string>();
    });
    // app.use() adds ApiserverState to a state type that lacks it.
    const chained = new Koa<MyState>().use(verifyApiserverToken({ audience: 'https://a.example' }));
    chained.use((ctx) => {
      expectTypeOf(ctx.state.apiserver).toEqualTypeOf<ApiserverIdentity | undefined>();
    });
  });

  it('returns a Koa middleware carrying its verifier and lifecycle', () => {
    const guard = verifyApiserverToken({ audience: 'https://a.example' });
    expectTypeOf(guard).toEqualTypeOf<ApiserverTokenMiddleware>();
    expectTypeOf(guard).toExtend<Koa.Middleware<ApiserverState>>();
    expectTypeOf(guard.ready).toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(guard.close).toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(guard.verifier.verify).returns.resolves.toEqualTypeOf<ApiserverIdentity>();
  });

  it('types the options, hooks included', () => {
    verifyApiserverToken();
    verifyApiserverToken({ audience: ['a', 'b'], respond: 'admission-review', errors: 'throw' });
    verifyApiserverToken({
      onVerified(identity, ctx) {
        expectTypeOf(identity).toEqualTypeOf<ApiserverIdentity>();
        expectTypeOf(ctx).toEqualTypeOf<Koa.Context>();
      },
      onRejected(error, ctx) {
        expectTypeOf(error).toEqualTypeOf<Error>();
        expectTypeOf(error.message).toBeString();
        expectTypeOf(ctx).toEqualTypeOf<Koa.Context>();
      },
    });
    // @ts-expect-error: errors is 'respond' | 'throw'
    verifyApiserverToken({ errors: 'next' });
    // @ts-expect-error: respond is 'http' | 'admission-review'
    verifyApiserverToken({ respond: 'xml' });
  });
});
