// Child process: one HTTP server under test on 127.0.0.1, driven by the parent over IPC.
import { serve } from '../rpc.mjs';
import { buildExpress } from './express.mjs';
import { buildFastify } from './fastify.mjs';
import { buildKoa } from './koa.mjs';

let close = async () => {};

serve({
  async start({ framework, variant, info }) {
    if (framework === 'fastify') {
      const app = await buildFastify(variant, info);
      await app.listen({ host: '127.0.0.1', port: 0 });
      close = () => app.close();
      return { port: app.server.address().port };
    }
    const app = framework === 'express' ? await buildExpress(variant, info) : await buildKoa(variant, info);
    const server = await new Promise((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    close = () => new Promise((resolve) => server.close(resolve));
    return { port: server.address().port };
  },
  async stop() {
    await close();
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
