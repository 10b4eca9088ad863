import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ApiserverIdentity } from '@apiserver-token/core';
import {
  type ApiserverTokenGuard,
  type ApiserverTokenMiddleware,
  createApiserverTokenGuard,
  verifyApiserverToken,
} from '@apiserver-token/node';
import type { NextHandleFunction } from 'connect';
import { describe, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it('augments node:http requests with apiserver?: ApiserverIdentity', () => {
    expectTypeOf<IncomingMessage['apiserver']>().toEqualTypeOf<ApiserverIdentity | undefined>();
  });

  it('the guard resolves to the identity or undefined, and carries its lifecycle', () => {
    const guard = createApiserverTokenGuard({ audience: 'https://a.example/validate' });
    expectTypeOf(guard).toEqualTypeOf<ApiserverTokenGuard>();
    expectTypeOf(guard).parameters.toEqualTypeOf<[IncomingMessage, ServerResponse]>();
    expectTypeOf(guard).returns.resolves.toEqualTypeOf<ApiserverIdentity | null | undefined>();
    expectTypeOf(guard.ready).toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(guard.close).toEqualTypeOf<() => Promise<void>>();
    const listener: RequestListener = async (req, res) => {
      const identity = await guard(req, res);
      if (identity !== undefined && identity !== null) expectTypeOf(identity.username).toBeString();
    };
    void listener;
  });

  it('the middleware is a Connect handler', () => {
    const middleware = verifyApiserverToken({ errors: 'next', respond: 'admission-review' });
    expectTypeOf(middleware).toEqualTypeOf<ApiserverTokenMiddleware>();
    expectTypeOf(middleware).toExtend<NextHandleFunction>();
  });

  it('types the options, hooks included', () => {
    createApiserverTokenGuard({
      onVerified(identity, req) {
        expectTypeOf(identity).toEqualTypeOf<ApiserverIdentity>();
        expectTypeOf(req).toEqualTypeOf<IncomingMessage>();
      },
      onRejected(error) {
        expectTypeOf(error).toEqualTypeOf<Error>();
        expectTypeOf(error.message).toBeString();
      },
    });
    // @ts-expect-error: errors is 'respond' | 'next'
    verifyApiserverToken({ errors: 'throw' });
    // @ts-expect-error: the guard answers rejections itself; errors is the middleware's option
    createApiserverTokenGuard({ errors: 'next' });
    // @ts-expect-error: respond is 'http' | 'admission-review'
    createApiserverTokenGuard({ respond: 'xml' });
  });
});
