// Child process: HTTP servers under test on 127.0.0.1 (one per process when timed), driven by the
// parent over IPC.
import { freemem } from 'node:os';
import { serve as serveHono } from '@hono/node-server';
import { serve } from '../rpc.mjs';
import { buildExpress } from './express.mjs';
import { buildFastify } from './fastify.mjs';
import { buildHono } from './hono.mjs';
import { buildKoa } from './koa.mjs';
import { buildNestjs } from './nestjs.mjs';
import { buildNode } from './node.mjs';

/** A node:http server (or anything with `listen`) listening on 127.0.0.1, on a free port. */
function listen(target) {
  return new Promise((resolve, reject) => {
    const s = target.listen(0, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

const closers = [];

serve({
  async start({ framework, variant, info, keepAliveTimeoutMs }) {
    if (framework === 'fastify') {
      const app = await buildFastify(variant, info, keepAliveTimeoutMs);
      await app.listen({ host: '127.0.0.1', port: 0 });
      closers.push(() => app.close());
      return { port: app.server.address().port };
    }
    if (framework === 'nestjs') {
      const app = await buildNestjs(variant, info);
      await app.listen(0, '127.0.0.1');
      const server = app.getHttpServer();
      if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
      closers.push(() => app.close());
      return { port: server.address().port };
    }
    let server;
    if (framework === 'hono') {
      const app = await buildHono(variant, info);
      server = await new Promise((resolve) => {
        const s = serveHono({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
    } else if (framework === 'node') {
      server = await listen(await buildNode(variant, info));
    } else {
      server = await listen(
        framework === 'express' ? await buildExpress(variant, info) : await buildKoa(variant, info),
      );
    }
    // Under callgrind the pauses between segments outlast Node's 5 s: keep the connection open.
    if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    return { port: server.address().port };
  },
  async stop() {
    await Promise.all(closers.splice(0).map((close) => close()));
    return true;
  },
  /** Under callgrind (--dump-before=uv_get_free_memory): a dump of the instructions counted so far. */
  mark() {
    freemem();
    return true;
  },
  /** CPU time this process has used, in microseconds (user + system). */
  cpu() {
    const { user, system } = process.cpuUsage();
    return user + system;
  },
  memory() {
    return process.memoryUsage();
  },
});
