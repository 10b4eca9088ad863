// Koa apps under test: bare, ours, and koa-jwt over jwks-rsa.
import https from 'node:https';
import jwksRsa from 'jwks-rsa';
import Koa from 'koa';
import koaJwt from 'koa-jwt';
import { loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from './noop.mjs';

export const VARIANTS = ['none', 'noop', 'ours', 'koa-jwt'];

export async function buildKoa(variant, info) {
  const app = new Koa();
  switch (variant) {
    case 'none':
      app.use((ctx) => {
        ctx.body = 'ok';
      });
      break;
    case 'noop':
      // The physical limit of any middleware: one function that sets ctx.state.apiserver.
      app.use((ctx, next) => {
        ctx.state.apiserver = NOOP_IDENTITY;
        return next();
      });
      app.use((ctx) => {
        ctx.body = ctx.state.apiserver.username;
      });
      break;
    case 'ours': {
      const ours = await loadOurs('@apiserver-token/koa');
      if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
      const middleware = ours.fn(ourOptions(info));
      // Keys loaded before the first request, as a readiness probe would wait for.
      await middleware.ready?.();
      app.use(middleware);
      app.use((ctx) => {
        ctx.body = ctx.state.apiserver.username;
      });
      break;
    }
    case 'koa-jwt':
      app.use(
        koaJwt({
          secret: jwksRsa.koaJwtSecret({
            jwksUri: info.jwksUri,
            cache: true,
            rateLimit: true,
            jwksRequestsPerMinute: 10,
            requestAgent: new https.Agent({ ca: info.ca }),
          }),
          audience: info.audience,
          issuer: info.issuer,
          algorithms: ['RS256'],
        }),
      );
      app.use((ctx) => {
        ctx.body = ctx.state.user.sub;
      });
      break;
    default:
      throw new Error(`unknown koa variant ${variant}`);
  }
  // Koa logs every non-4xx error; rejections are expected here, nothing else is.
  app.silent = true;
  return app;
}
