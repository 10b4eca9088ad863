import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { call } from './helpers.js';

describe('certificates', () => {
  let api: TestApiserver;
  beforeAll(async () => {
    api = await startTestApiserver();
  });
  afterAll(() => api.close());

  it('serves a certificate for 127.0.0.1 and localhost signed by api.ca', async () => {
    const ca = new X509Certificate(api.ca);
    expect(ca.ca).toBe(true);
    const res = await call({ url: `https://localhost:${api.port}`, ca: api.ca }, '/readyz');
    expect(res.status).toBe(200);
    // Anyone not trusting the kit's CA is refused.
    await expect(
      call({ url: api.url, ca: new X509Certificate(api.clientCa).toString() }, '/readyz'),
    ).rejects.toThrow();
  });

  it('issueClientCertificate: CN/O subject, clientAuth, verifiable by a server trusting `ca` (proxy-client-cert style)', async () => {
    const issued = await api.issueClientCertificate({
      commonName: 'front-proxy-client',
      organizations: ['system:masters', 'ops'],
    });
    const cert = new X509Certificate(issued.cert);
    expect(cert.subject).toBe('CN=front-proxy-client\nO=system:masters\nO=ops');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.verify(new X509Certificate(issued.ca).publicKey)).toBe(true);
    expect(issued.ca).toBe(api.clientCa);

    // A webhook server that demands client certificates from this CA.
    const serverTls = await api.issueServerCertificate();
    const server = createServer(
      {
        cert: serverTls.cert,
        key: serverTls.key,
        ca: issued.ca,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.end(JSON.stringify({ cn: peer.subject.CN, o: peer.subject.O }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ok = await call({ url, ca: serverTls.ca }, '/', { cert: issued });
      expect(ok.json()).toEqual({ cn: 'front-proxy-client', o: ['system:masters', 'ops'] });
      await expect(call({ url, ca: serverTls.ca }, '/')).rejects.toThrow();
      // A certificate from another kit's client CA is refused.
      await using other = await startTestApiserver();
      const foreign = await other.issueClientCertificate({ commonName: 'intruder' });
      await expect(call({ url, ca: serverTls.ca }, '/', { cert: foreign })).rejects.toThrow();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('the kit authenticates its own client certificates: CN is the user, O the groups', async () => {
    const masters = await api.issueClientCertificate({
      commonName: 'root',
      organizations: ['system:masters'],
    });
    const token = await api.mintToken({ audiences: ['a'] });
    const ok = await call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
      cert: masters,
      body: { spec: { token, audiences: ['a'] } },
    });
    expect(ok.status).toBe(201);
    expect(api.requests('tokenreviews').at(-1)?.user).toBe('root');
    const nobody = await api.issueClientCertificate({ commonName: 'nobody' });
    const forbidden = await call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
      cert: nobody,
      body: { spec: { token } },
    });
    expect(forbidden.status).toBe(403);
    expect((forbidden.json() as { message: string }).message).toContain('User "nobody"');
    // A certificate the kit did not issue is a failed credential: 401, not anonymous.
    await using other = await startTestApiserver();
    const foreign = await other.issueClientCertificate({
      commonName: 'root',
      organizations: ['system:masters'],
    });
    expect((await call(api, '/openid/v1/jwks', { cert: foreign })).status).toBe(401);
  });

  it('issueServerCertificate honours names, and the kubeconfig files hold no stray data', async () => {
    const tls = await api.issueServerCertificate({
      dnsNames: ['my-webhook.my-ns.svc'],
      ipAddresses: ['10.0.0.1'],
    });
    const cert = new X509Certificate(tls.cert);
    expect(cert.subjectAltName).toBe('DNS:my-webhook.my-ns.svc, IP Address:10.0.0.1');
    expect(cert.checkHost('my-webhook.my-ns.svc')).toBe('my-webhook.my-ns.svc');
    expect(tls.ca).toBe(api.ca);
    const files = readdirSync(api.tempDir);
    expect(files).toContain('ca.crt');
    const kubeconfig = readFileSync(
      join(api.tempDir, files.find((f) => f.startsWith('kubeconfig-'))!),
      'utf8',
    );
    expect(kubeconfig).toContain('certificate-authority-data:');
    await expect(api.issueClientCertificate({ commonName: '' })).rejects.toThrow(/commonName/);
  });
});
