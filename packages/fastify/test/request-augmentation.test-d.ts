import type { ApiserverIdentity } from '@apiserver-token/core';
import fastifyApiserverTokenDefault, {
  type FastifyApiserverTokenOptions,
  fastifyApiserverToken,
} from '@apiserver-token/fastify';
import Fastify, { type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it('augments FastifyRequest with apiserver?: ApiserverIdentity', () => {
    expectTypeOf<FastifyRequest['apiserver']>().toEqualTypeOf<ApiserverIdentity | undefined>();
    const app = Fastify();
    app.get('/', async (request) => {
      expectTypeOf(request.apiserver).toEqualTypeOf<ApiserverIdentity | undefined>();
      return request.apiserver?.username;
    });
  });

  it('exports one async plugin, default and named, taking the options', () => {
    expectTypeOf(fastifyApiserverToken).toEqualTypeOf<FastifyPluginAsync<FastifyApiserverTokenOptions>>();
    expectTypeOf(fastifyApiserverTokenDefault).toEqualTypeOf(fastifyApiserverToken);
    const app = Fastify();
    app.register(fastifyApiserverToken, { audience: 'https://a.example', respond: 'admission-review' });
    app.register(fastifyApiserverToken, { hook: 'preHandler' });
    app.register(fastifyApiserverToken);
    // @ts-expect-error: hook is 'onRequest' | 'preHandler'
    app.register(fastifyApiserverToken, { hook: 'onSend' });
    // @ts-expect-error: respond is 'http' | 'admission-review'
    app.register(fastifyApiserverToken, { respond: 'xml' });
  });

  it('types the hooks with the Fastify request', () => {
    const app = Fastify();
    app.register(fastifyApiserverToken, {
      onVerified(identity, request) {
        expectTypeOf(identity).toEqualTypeOf<ApiserverIdentity>();
        expectTypeOf(request).toEqualTypeOf<FastifyRequest>();
      },
      onRejected(error, request) {
        expectTypeOf(error).toEqualTypeOf<Error>();
        expectTypeOf(error.message).toBeString();
        expectTypeOf(request).toEqualTypeOf<FastifyRequest>();
      },
    });
  });
});
