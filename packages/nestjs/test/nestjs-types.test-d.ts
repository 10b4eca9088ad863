import type { ApiserverIdentity } from '@apiserver-token/core';
import {
  Apiserver,
  type ApiserverTokenException,
  type ApiserverTokenGuard,
  ApiserverTokenModule,
  type NestApiserverTokenOptions,
} from '@apiserver-token/nestjs';
import type { CanActivate, DynamicModule, ExecutionContext, HttpException } from '@nestjs/common';
import { describe, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it('a guard, a module with forRoot/forRootAsync, a parameter decorator and an HttpException', () => {
    expectTypeOf<ApiserverTokenGuard>().toExtend<CanActivate>();
    expectTypeOf<ApiserverTokenGuard['ready']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(ApiserverTokenModule.forRoot).returns.toEqualTypeOf<DynamicModule>();
    expectTypeOf(Apiserver).toEqualTypeOf<() => ParameterDecorator>();
    expectTypeOf<ApiserverTokenException>().toExtend<HttpException>();
  });

  it('types the options: hooks get the ExecutionContext; forRootAsync takes injected providers', () => {
    ApiserverTokenModule.forRoot({
      audience: 'https://a.example/validate',
      respond: 'admission-review',
      onVerified(identity, context) {
        expectTypeOf(identity).toEqualTypeOf<ApiserverIdentity>();
        expectTypeOf(context).toEqualTypeOf<ExecutionContext>();
      },
    });
    class Config {
      audience = 'https://a.example/validate';
    }
    ApiserverTokenModule.forRootAsync({
      inject: [Config],
      useFactory: (config: Config): NestApiserverTokenOptions => ({ audience: config.audience }),
    });
    // @ts-expect-error: respond is 'http' | 'admission-review'
    ApiserverTokenModule.forRoot({ respond: 'xml' });
    // @ts-expect-error: useFactory must produce options
    ApiserverTokenModule.forRootAsync({ useFactory: () => 42 });
  });
});
