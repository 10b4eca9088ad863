import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** Listens on 127.0.0.1 with a free port; returns the base URL and a closer. */
export async function listen(app: Koa): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
