import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import express5 from 'express';
import express4 from 'express4';

/** The same tests run on both majors. */
export const EXPRESS_VERSIONS: ReadonlyArray<readonly [string, typeof express]> = [
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express],
];

/** Listens on 127.0.0.1 with a free port; returns the base URL and a closer. */
export async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
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
