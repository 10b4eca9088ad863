import Koa from 'koa';
import Koa2 from 'koa2';

/** The same tests run on both majors. */
export const KOA_VERSIONS: ReadonlyArray<readonly [string, typeof Koa]> = [
  ['koa 3', Koa],
  ['koa 2', Koa2 as unknown as typeof Koa],
];

/**
 * Test-only JSON body reader (what `@koa/bodyparser` does for an app): sets `ctx.request.body`,
 * which the middleware reads in `respond: 'admission-review'` mode.
 */
export const jsonBody: Koa.Middleware = async (ctx, next) => {
  if (ctx.is('application/json')) {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    (ctx.request as { body?: unknown }).body = text === '' ? undefined : JSON.parse(text);
  }
  await next();
};

export { listen } from '../../../test/helpers/listen.js';
