import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionReview, startTestApiserver, type TestApiserver } from '../src/index.js';
import { fixtureJson } from './helpers.js';

interface RecordedCall {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: { request: Record<string, unknown> };
}
const recorded = fixtureJson<RecordedCall>('webhook/admission-request.json');

describe('callWebhook / admissionReview', () => {
  let api: TestApiserver;
  let url: string;
  const seen: Array<{
    method?: string;
    url?: string;
    headers: IncomingHttpHeaders;
    body: unknown;
    cn?: string;
  }> = [];
  let server: ReturnType<typeof createServer>;

  beforeAll(async () => {
    api = await startTestApiserver();
    const tls = await api.issueServerCertificate();
    server = createServer(
      { cert: tls.cert, key: tls.key, ca: api.clientCa, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
          const peer = (req.socket as TLSSocket).getPeerCertificate();
          seen.push({
            method: req.method,
            url: req.url,
            headers: req.headers,
            body,
            ...(peer?.subject ? { cn: String(peer.subject.CN) } : {}),
          });
          const answer = {
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: body.request.uid, allowed: true },
          };
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gzipSync(JSON.stringify(answer)));
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/validate`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await api.close();
  });

  it('sends what kube-apiserver sent in the recorded admission call', async () => {
    const token = await api.mintToken({ audiences: [url.replace(/\/validate$/, '')] });
    const body = admissionReview({
      kind: { version: 'v1', kind: 'ConfigMap' },
      resource: { version: 'v1', resource: 'configmaps' },
      name: 'warmup',
      namespace: 'demo',
      object: {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { name: 'warmup', namespace: 'demo' },
        data: { a: 'b' },
      },
      options: recorded.body.request.options,
    });
    const res = await api.callWebhook(url, { token, body, timeoutSeconds: 5 });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      response: { allowed: true, uid: (body.request as { uid: string }).uid },
    });

    const call = seen.at(-1)!;
    expect(call.method).toBe(recorded.method);
    expect(call.url).toBe(recorded.url);
    // Node adds `connection` (Go's client does not send it); every recorded header is there.
    expect(
      Object.keys(call.headers)
        .filter((h) => h !== 'connection')
        .sort(),
    ).toEqual(Object.keys(recorded.headers).sort());
    for (const name of ['user-agent', 'accept', 'content-type', 'accept-encoding']) {
      expect(call.headers[name], name).toBe(recorded.headers[name]);
    }
    expect(call.headers.authorization).toBe(`Bearer ${token}`);
    const request = (call.body as { request: Record<string, unknown> }).request;
    expect(Object.keys(request)).toEqual(Object.keys(recorded.body.request));
    expect(request.kind).toEqual(recorded.body.request.kind);
    expect(request.resource).toEqual(recorded.body.request.resource);
    expect(request.options).toEqual(recorded.body.request.options);
  });

  it('presents a client certificate and defaults per operation', async () => {
    const cert = await api.issueClientCertificate({ commonName: 'front-proxy-client' });
    const body = admissionReview({
      operation: 'DELETE',
      uid: 'fixed',
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      subResource: 'scale',
    });
    await api.callWebhook(url, { body, cert });
    const call = seen.at(-1)!;
    expect(call.cn).toBe('front-proxy-client');
    expect(call.url).toBe('/validate?timeout=10s');
    expect(call.headers.authorization).toBeUndefined();
    expect((call.body as { request: Record<string, unknown> }).request).toMatchObject({
      uid: 'fixed',
      subResource: 'scale',
      requestSubResource: 'scale',
      operation: 'DELETE',
      options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' },
      object: null,
      dryRun: false,
    });
  });

  it('fails when the webhook is not trusted or does not answer in time', async () => {
    await expect(api.callWebhook(url, { body: {}, ca: api.clientCa })).rejects.toThrow();
    const slow = createServer({ ...(await api.issueServerCertificate()) }, () => {});
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const slowUrl = `https://127.0.0.1:${(slow.address() as AddressInfo).port}/`;
      await expect(api.callWebhook(slowUrl, { body: {}, timeoutSeconds: 1 })).rejects.toThrow(/within 1s/);
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
