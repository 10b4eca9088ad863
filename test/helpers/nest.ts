import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { ApiserverIdentity } from '@apiserver-token/core';
import type * as Adapter from '@apiserver-token/nestjs';
import type * as Common from '@nestjs/common';
import type * as Core from '@nestjs/core';

/** One NestJS major as an app sees it: its own packages, and the adapter loaded against them. */
export interface NestMajor {
  common: typeof Common;
  core: typeof Core;
  platform: { express: () => unknown; fastify: () => unknown };
  adapter: typeof Adapter;
}

// packages/nestjs has NestJS 11; packages/nestjs/test/nest10 has NestJS 10 (see vitest.config.ts).
const ROOTS = {
  10: new URL('../../packages/nestjs/test/nest10/package.json', import.meta.url),
  11: new URL('../../packages/nestjs/package.json', import.meta.url),
} as const;
const ADAPTERS = { 10: '@apiserver-token/nestjs?nest10', 11: '@apiserver-token/nestjs' } as const;

export async function loadNest(major: 10 | 11): Promise<NestMajor> {
  const from = createRequire(ROOTS[major]);
  const { ExpressAdapter } = from('@nestjs/platform-express') as { ExpressAdapter: new () => unknown };
  const { FastifyAdapter } = from('@nestjs/platform-fastify') as { FastifyAdapter: new () => unknown };
  return {
    common: from('@nestjs/common') as typeof Common,
    core: from('@nestjs/core') as typeof Core,
    platform: { express: () => new ExpressAdapter(), fastify: () => new FastifyAdapter() },
    adapter: (await import(/* @vite-ignore */ ADAPTERS[major])) as typeof Adapter,
  };
}

/**
 * A Nest app with one guarded route, `POST /validate`, answering `{ identity }` from the
 * `@Apiserver()` parameter, served on 127.0.0.1 over the given platform.
 */
export async function serveNest(
  nest: NestMajor,
  platform: 'express' | 'fastify',
  options: Adapter.NestApiserverTokenOptions,
): Promise<{ url: string; app: Common.INestApplication; close: () => Promise<void> }> {
  const { Controller, HttpCode, Module, Post, UseGuards } = nest.common;
  const { Apiserver, ApiserverTokenGuard, ApiserverTokenModule } = nest.adapter;

  @Controller()
  class WebhookController {
    @Post('validate')
    @HttpCode(200)
    @UseGuards(ApiserverTokenGuard)
    validate(@Apiserver() identity: ApiserverIdentity) {
      return { identity };
    }
  }

  @Module({ imports: [ApiserverTokenModule.forRoot(options)], controllers: [WebhookController] })
  class AppModule {}

  // abortOnError: false, so that a failed start rejects instead of aborting the test process.
  const app = await nest.core.NestFactory.create(AppModule, nest.platform[platform]() as never, {
    logger: false,
    abortOnError: false,
  });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, app, close: () => app.close() };
}
