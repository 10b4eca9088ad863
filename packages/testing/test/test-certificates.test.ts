import { once } from 'node:events';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createTestCertificates } from '../src/index.js';

function get(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('createTestCertificates', () => {
  it('makes a CA and a 127.0.0.1 server certificate that a TLS client verifies', async () => {
    const tls = await createTestCertificates();
    const other = await createTestCertificates({ caName: 'someone else' });
    const server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => res.end('hello'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      await expect(get(port, tls.ca)).resolves.toBe('hello');
      // A client trusting another CA refuses the server: the certificate is really checked.
      await expect(get(port, other.ca)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    } finally {
      server.close();
    }
  });
});
