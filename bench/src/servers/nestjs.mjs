// NestJS 11 (Express platform) apps under test: bare, a no-op guard with a parameter decorator,
// and ours (ApiserverTokenModule.forRoot + ApiserverTokenGuard + @Apiserver()). Plain JavaScript
// has no decorator syntax: the decorators are applied as the TypeScript compiler would emit them.
import 'reflect-metadata';
import { Controller, createParamDecorator, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from './noop.mjs';

export const VARIANTS = ['none', 'noop', 'ours'];

/** A controller answering GET / with `handler(...args)`; `guard` and `param` decorate the route. */
function controller(handler, { guard, param } = {}) {
  class WebhookController {
    get(identity) {
      return handler(identity);
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(WebhookController.prototype, 'get');
  if (param !== undefined) param(WebhookController.prototype, 'get', 0);
  const route = [Get()];
  if (guard !== undefined) route.push(UseGuards(guard));
  for (const decorate of route) decorate(WebhookController.prototype, 'get', descriptor);
  Controller()(WebhookController);
  return WebhookController;
}

function appModule(definition) {
  class AppModule {}
  Module(definition)(AppModule);
  return AppModule;
}

// The no-op guard: what any guard must at least do, set the identity and let the request through.
class NoopGuard {
  canActivate(context) {
    context.switchToHttp().getRequest().apiserver = NOOP_IDENTITY;
    return true;
  }
}
const NoopIdentity = createParamDecorator((_data, context) => context.switchToHttp().getRequest().apiserver);

/** Resolves with a Nest application, initialised and not yet listening. */
export async function buildNestjs(variant, info) {
  let definition;
  switch (variant) {
    case 'none':
      definition = { controllers: [controller(() => 'ok')] };
      break;
    case 'noop':
      definition = {
        controllers: [
          controller((identity) => identity.username, { guard: NoopGuard, param: NoopIdentity() }),
        ],
      };
      break;
    case 'ours': {
      const ours = await loadOurs('@apiserver-token/nestjs');
      if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
      const { ApiserverTokenModule, ApiserverTokenGuard, Apiserver } = ours.module;
      definition = {
        imports: [ApiserverTokenModule.forRoot(ourOptions(info))],
        controllers: [
          controller((identity) => identity.username, { guard: ApiserverTokenGuard, param: Apiserver() }),
        ],
      };
      const app = await NestFactory.create(appModule(definition), { logger: false });
      // Keys loaded before the first request, as a readiness probe would wait for.
      await app.get(ApiserverTokenGuard).ready();
      return app;
    }
    default:
      throw new Error(`unknown nestjs variant ${variant}`);
  }
  return NestFactory.create(appModule(definition), { logger: false });
}
