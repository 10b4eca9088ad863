import type { ApiserverIdentity, ApiserverTokenError } from '@apiserver-token/core';
import type { ArgumentsHost, ExecutionContext } from '@nestjs/common';
import { afterAll, describe, expect, it } from 'vitest';
import { postJson } from '../../../test/helpers/admission-review.js';
import { loadNest, serveNest } from '../../../test/helpers/nest.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';

const kit = useTestApiserver();
const { mint } = kit;
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

describe.each([10, 11] as const)('NestJS %i', (major) => {
  it.each(['express', 'fastify'] as const)(
    'forRootAsync, APP_GUARD, hooks with the ExecutionContext, and a filter of our own (%s)',
    async (platform) => {
      const nest = await loadNest(major);
      const { Catch, Controller, HttpCode, Inject, Injectable, Module, Post } = nest.common;
      const { APP_FILTER, APP_GUARD, NestFactory } = nest.core;
      const { Apiserver, ApiserverTokenException, ApiserverTokenGuard, ApiserverTokenModule } = nest.adapter;
      const seen: string[] = [];

      @Injectable()
      class Settings {
        readonly options = kit.options;
      }
      @Module({ providers: [Settings], exports: [Settings] })
      class SettingsModule {}

      @Controller()
      class WebhookController {
        @Post('validate')
        @HttpCode(200)
        validate(@Apiserver() identity: ApiserverIdentity) {
          return { caller: identity.username };
        }
      }

      // A filter of the app's own: it sees the ApiserverTokenError as the cause, and the headers set.
      @Catch(ApiserverTokenException)
      class Filter {
        catch(exception: InstanceType<typeof ApiserverTokenException>, host: ArgumentsHost) {
          seen.push((exception.cause as ApiserverTokenError).code);
          const res = host.switchToHttp().getResponse<{ status?: unknown; code?: unknown }>();
          const reply = res as unknown as {
            status?: (code: number) => { json(body: unknown): void };
            code?: (code: number) => { send(body: unknown): void };
          };
          const body = { wrapped: exception.getResponse() };
          if (platform === 'express') reply.status?.(exception.getStatus()).json(body);
          else reply.code?.(exception.getStatus()).send(body);
        }
      }

      @Module({
        imports: [
          ApiserverTokenModule.forRootAsync({
            imports: [SettingsModule],
            inject: [Settings],
            useFactory: async (settings: Settings) => ({
              ...settings.options,
              onVerified(_identity, context: ExecutionContext) {
                seen.push(context.getHandler().name);
              },
            }),
          }),
        ],
        controllers: [WebhookController],
        providers: [
          { provide: APP_GUARD, useExisting: ApiserverTokenGuard },
          { provide: APP_FILTER, useClass: Filter },
        ],
      })
      class AppModule {
        constructor(@Inject(ApiserverTokenGuard) readonly guard: InstanceType<typeof ApiserverTokenGuard>) {}
      }

      const app = await NestFactory.create(AppModule, nest.platform[platform]() as never, { logger: false });
      closers.push(() => app.close());
      await app.get(ApiserverTokenGuard).ready();
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as { port: number };
      const url = `http://127.0.0.1:${port}`;

      const ok = await postJson(url, { authorization: `Bearer ${await mint()}` });
      expect(await ok.json()).toEqual({ caller: 'system:serviceaccount:kube-system:webhook-auth' });
      const forged = await postJson(url, { authorization: `Bearer ${await mint({ tamper: 'signature' })}` });
      expect(forged.status).toBe(401);
      expect(forged.headers.get('www-authenticate')).toContain('invalid_token');
      expect(await forged.json()).toEqual({
        wrapped: { error: 'invalid_signature', error_description: 'the bearer token is missing or invalid' },
      });
      expect(seen).toEqual(['validate', 'invalid_signature']);
    },
  );

  it('bad options fail NestFactory.create, naming the field; the verifier closes with the app', async () => {
    const nest = await loadNest(major);
    await expect(serveNest(nest, 'express', { env: {}, inCluster: false })).rejects.toThrow(/audience/);
    const served = await serveNest(nest, 'fastify', { ...kit.options, admission: true });
    const { ApiserverTokenGuard } = nest.adapter;
    const guard = served.app.get(ApiserverTokenGuard);
    const res = await postJson(served.url, { authorization: `Bearer ${await mint()}` }, { hello: 'world' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('malformed_admission_review');
    await served.close();
    await expect(
      guard.verifier.verify({ headers: { authorization: `Bearer ${await mint()}` } }),
    ).rejects.toThrow();
  });
});
