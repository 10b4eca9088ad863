import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Anything with Node's `listen(port, host, callback)` returning the server: Express and Koa apps. */
interface Listenable {
  listen(port: number, host: string, callback: () => void): Server;
}

/** Listens on 127.0.0.1 with a free port; returns the base URL and a closer. */
export async function listen(app: Listenable): Promise<{ url: string; close: () => Promise<void> }> {
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
