import { describe, expectTypeOf, it } from 'vitest';
import {
  type ApiserverIdentity,
  type ApiserverTokenVerifier,
  createVerifier,
  type JwksOptions,
  type MetricsOptions,
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

describe('the metrics option types', () => {
  it('takes a real prom-client Registry and a real OpenTelemetry Meter, without importing either', async () => {
    const { Registry, register } = await import('prom-client');
    const { metrics } = await import('@opentelemetry/api');
    expectTypeOf({ registry: new Registry() }).toMatchTypeOf<MetricsOptions>();
    expectTypeOf({ registry: register }).toMatchTypeOf<MetricsOptions>();
    expectTypeOf({ meter: metrics.getMeter('webhook') }).toMatchTypeOf<MetricsOptions>();
    expectTypeOf<true>().toMatchTypeOf<MetricsOptions>();
    expectTypeOf<{ registry: { metrics(): string } }>().not.toMatchTypeOf<MetricsOptions>();
    expectTypeOf<VerifierOptions['metrics']>().toEqualTypeOf<MetricsOptions | undefined>();
  });
});
