// Hono on Node (@hono/node-server) apps under test: bare, a no-op middleware, and ours.
import { Hono } from 'hono';
import { loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from './noop.mjs';

export const VARIANTS = ['none', 'noop', 'ours'];

export async function buildHono(variant, info) {
  const app = new Hono();
  switch (variant) {
    case 'none':
      app.get('/', (c) => c.text('ok'));
      break;
    case 'noop':
      // The physical limit of any middleware: one that sets c.var.apiserver.
      app.use(async (c, next) => {
        c.set('apiserver', NOOP_IDENTITY);
        await next();
      });
      app.get('/', (c) => c.text(c.var.apiserver.username));
      break;
    case 'ours': {
      const ours = await loadOurs('@apiserver-token/hono');
      if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
      const middleware = ours.fn(ourOptions(info));
      await middleware.ready();
      app.use(middleware);
      app.get('/', (c) => c.text(c.var.apiserver.username));
      break;
    }
    default:
      throw new Error(`unknown hono variant ${variant}`);
  }
  return app;
}
