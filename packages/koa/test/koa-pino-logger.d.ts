// koa-pino-logger ships no types: what the tests use of it (pino-http's options, `ctx.log` set).
declare module 'koa-pino-logger' {
  import type { Middleware } from 'koa';
  import type { Logger } from 'pino';

  function koaPinoLogger(options?: { logger?: Logger }): Middleware;
  export default koaPinoLogger;
}
