// Child process: HTTP servers under test on 127.0.0.1 (one per process when timed), driven by the
// parent over IPC.
import { freemem } from 'node:os';
import { serve } from '../rpc.mjs';
import { buildExpress } from './express.mjs';
import { buildFastify } from './fastify.mjs';
import { buildKoa } from './koa.mjs';

const closers = [];

serve({
  async start({ framework, variant, info, keepAliveTimeoutMs }) {
    if (framework === 'fastify') {
      const app = await buildFastify(variant, info, keepAliveTimeoutMs);
      await app.listen({ host: '127.0.0.1', port: 0 });
      closers.push(() => app.close());
      return { port: app.server.address().port };
    }
    const app = framework === 'express' ? await buildExpress(variant, info) : await buildKoa(variant, info);
    const server = await new Promise((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    // Under callgrind the pauses between segments outlast Node's 5 s: keep the connection open.
    if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    return { port: server.address().port };
  },
  async stop() {
    await Promise.all(closers.splice(0).map((close) => close()));
    return true;
  },
  /**
   * Under callgrind (--dump-before=uv_get_free_memory): a dump of the instructions counted so far;
   * with `gc` (at the start of a segment) a full GC first, counted in the dump before the segment.
   */
  mark({ gc = false } = {}) {
    if (gc) globalThis.gc?.();
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
