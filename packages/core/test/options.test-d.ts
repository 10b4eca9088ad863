import { describe, expectTypeOf, it } from 'vitest';
import {
  type ApiserverIdentity,
  type ApiserverTokenVerifier,
  createVerifier,
  type JwksOptions,
  type VerifierMode,
  type VerifierOptions,
} from '../src/index.js';

describe('public option types', () => {
  it('types the options as documented', () => {
    expectTypeOf<VerifierOptions['audience']>().toEqualTypeOf<string | string[] | undefined>();
    expectTypeOf<VerifierOptions['issuer']>().toEqualTypeOf<string | string[] | undefined>();
    expectTypeOf<VerifierMode>().toEqualTypeOf<'jwks' | 'tokenreview' | 'hybrid'>();
    expectTypeOf<JwksOptions['keys']>().toMatchTypeOf<object | string | undefined>();
    expectTypeOf(createVerifier).returns.toEqualTypeOf<ApiserverTokenVerifier>();
    expectTypeOf<ReturnType<ApiserverTokenVerifier['verify']>>().toEqualTypeOf<Promise<ApiserverIdentity>>();
  });

  it('refuses what can never be accepted, at compile time', () => {
    // @ts-expect-error: HMAC algorithms are not JwsAlgorithm
    createVerifier({ audience: 'a', algorithms: ['HS256'] }).close;
    // @ts-expect-error: none is not a JwsAlgorithm
    createVerifier({ audience: 'a', algorithms: ['none'] }).close;
    // @ts-expect-error: there is no `audiences` option
    createVerifier({ audiences: ['a'] }).close;
  });
});
