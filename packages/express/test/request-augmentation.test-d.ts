import type * as core from '@apiserver-token/core';
import type { ApiserverIdentity } from '@apiserver-token/core';
import {
  type ApiserverTokenMiddleware,
  createVerifier,
  ForbiddenIdentityError,
  isApiserverTokenError,
  type VerifierOptions,
  verifyApiserverToken,
} from '@apiserver-token/express';
import type { Request, RequestHandler } from 'express';
import { describe, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it('augments Express requests with apiserver?: ApiserverIdentity', () => {
    expectTypeOf<Request['apiserver']>().toEqualTypeOf<ApiserverIdentity | undefined>();
    // The global namespace is what both Express 4 and 5 type definitions extend.
    expectTypeOf<Express.Request['apiserver']>().toEqualTypeOf<ApiserverIdentity | undefined>();
  });

  it('returns a RequestHandler carrying its verifier and lifecycle', () => {
    const guard = verifyApiserverToken({ audience: 'https://a.example' });
    expectTypeOf(guard).toEqualTypeOf<ApiserverTokenMiddleware>();
    expectTypeOf(guard).toExtend<RequestHandler>();
    expectTypeOf(guard.ready).toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(guard.close).toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(guard.verifier.verify).returns.resolves.toEqualTypeOf<ApiserverIdentity>();
  });

  it('re-exports what its README imports from core, so core need not be a direct dependency', () => {
    expectTypeOf(createVerifier).toEqualTypeOf<typeof core.createVerifier>();
    expectTypeOf(ForbiddenIdentityError).toEqualTypeOf<typeof core.ForbiddenIdentityError>();
    expectTypeOf(isApiserverTokenError).toEqualTypeOf<typeof core.isApiserverTokenError>();
    expectTypeOf<VerifierOptions>().toEqualTypeOf<core.VerifierOptions>();
  });

  it('types the options, hooks included', () => {
    verifyApiserverToken();
    verifyApiserverToken({ audience: ['a', 'b'], respond: 'admission-review', errors: 'next' });
    verifyApiserverToken({
      onVerified(identity, req) {
        expectTypeOf(identity).toEqualTypeOf<ApiserverIdentity>();
        expectTypeOf(req).toEqualTypeOf<Request>();
      },
      onRejected(error, req) {
        expectTypeOf(error).toEqualTypeOf<Error>();
        expectTypeOf(error.message).toBeString();
        expectTypeOf(req).toEqualTypeOf<Request>();
      },
    });
    // @ts-expect-error: errors is 'respond' | 'next'
    verifyApiserverToken({ errors: 'throw' });
    // @ts-expect-error: respond is 'http' | 'admission-review'
    verifyApiserverToken({ respond: 'xml' });
  });
});
