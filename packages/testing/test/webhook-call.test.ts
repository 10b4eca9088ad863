import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer } from 'node:https';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createNetServer,
  type Socket,
} from 'node:net';
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
// v1.36.3 kept the raw header lines too: names in Go's spelling and the order they were sent.
const recorded136 = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/kube-apiserver-v1.36.3/webhook/admission-request.json', import.meta.url),
    'utf8',
  ),
) as RecordedCall & { rawHeaders: string[] };

describe('callWebhook / admissionReview', () => {
  let api: TestApiserver;
  let url: string;
  const seen: Array<{
    method?: string;
    url?: string;
    headers: IncomingHttpHeaders;
    rawHeaders: string[];
    body: unknown;
    cn?: string;
    connection: number;
  }> = [];
  let server: ReturnType<typeof createServer>;
  let connections = 0;

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
            rawHeaders: req.rawHeaders,
            connection: (req.socket as TLSSocket & { id?: number }).id ?? 0,
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
    server.on('secureConnection', (socket: TLSSocket & { id?: number }) => {
      socket.id = ++connections;
    });
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
    // The header lines of the v1.36.3 call: the same names, spelled and ordered as Go sent them,
    // and no `Connection` header.
    const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0);
    expect(names(call.rawHeaders)).toEqual(names(recorded136.rawHeaders));
    expect(call.headers.connection).toBeUndefined();
    for (const name of ['user-agent', 'accept', 'content-type', 'accept-encoding']) {
      expect(call.headers[name], name).toBe(recorded136.headers[name]);
      expect(call.headers[name], name).toBe(recorded.headers[name]);
    }
    expect(call.headers.host).toBe(new URL(url).host);
    expect(call.headers.authorization).toBe(`Bearer ${token}`);
    const request = (call.body as { request: Record<string, unknown> }).request;
    expect(Object.keys(request)).toEqual(Object.keys(recorded.body.request));
    expect(request.kind).toEqual(recorded.body.request.kind);
    expect(request.resource).toEqual(recorded.body.request.resource);
    expect(request.options).toEqual(recorded.body.request.options);
  });

  it('keeps one connection alive across calls, as the recorded apiserver did for all seven', async () => {
    const before = connections;
    const body = admissionReview({
      kind: { version: 'v1', kind: 'ConfigMap' },
      resource: { version: 'v1', resource: 'configmaps' },
    });
    for (let i = 0; i < 4; i++) expect((await api.callWebhook(url, { body })).status).toBe(200);
    const last = seen.slice(-4);
    expect(new Set(last.map((c) => c.connection)).size).toBe(1);
    expect(connections - before).toBeLessThanOrEqual(1);
    expect(last.every((c) => c.headers.connection === undefined)).toBe(true);
  });

  it('opens a new connection when the webhook closed the idle one, and closes its own on close()', async () => {
    const kit = await startTestApiserver();
    const tls = await kit.issueServerCertificate();
    const sockets = new Set<TLSSocket>();
    let opened = 0;
    const hook = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    hook.on('secureConnection', (socket: TLSSocket) => {
      opened++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `https://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    try {
      expect((await kit.callWebhook(hookUrl, { body: {} })).status).toBe(200);
      expect(sockets.size).toBe(1);
      // The webhook drops the idle connection (e.g. its keep-alive timeout ran out).
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await kit.callWebhook(hookUrl, { body: {} })).status).toBe(200);
      expect(opened).toBe(2);
      expect(sockets.size).toBe(1);
      await kit.close();
      const deadline = Date.now() + 10_000;
      while (sockets.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sockets.size).toBe(0);
    } finally {
      await kit.close();
      hook.closeAllConnections();
      await new Promise((resolve) => hook.close(resolve));
    }
  });

  it('speaks HTTP/2 to a webhook that offers it, with the recorded h2 header order, on one session', async () => {
    const recordedH2 = JSON.parse(
      readFileSync(
        new URL(
          '../../../test/fixtures/kube-apiserver-v1.36.3/webhook/admission-request.h2.json',
          import.meta.url,
        ),
        'utf8',
      ),
    ) as RecordedCall & { rawHeaders: string[]; httpVersion: string };
    const tls = await api.issueServerCertificate();
    const calls: Array<{ httpVersion: string; rawHeaders: string[]; url?: string }> = [];
    let sessions = 0;
    const h2 = createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }, (req, res) => {
      calls.push({ httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, url: req.url });
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(JSON.stringify({ response: { allowed: true } })));
      });
    });
    h2.on('session', () => sessions++);
    const closed = new Promise<void>((resolve) =>
      h2.on('session', (session) => session.on('close', resolve)),
    );
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
    const h2Url = `https://127.0.0.1:${(h2.address() as AddressInfo).port}/validate`;
    try {
      const body = admissionReview({
        kind: { version: 'v1', kind: 'ConfigMap' },
        resource: { version: 'v1', resource: 'configmaps' },
      });
      for (let i = 0; i < 3; i++) {
        const res = await api.callWebhook(h2Url, { body, token: 'a.b.c', timeoutSeconds: 5 });
        expect(res.status).toBe(200);
        expect(res.json).toEqual({ response: { allowed: true } });
      }
      expect(calls.map((c) => c.httpVersion)).toEqual(['2.0', '2.0', '2.0']);
      expect(recordedH2.httpVersion).toBe('2.0');
      const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0);
      expect(names(calls[0]!.rawHeaders)).toEqual(names(recordedH2.rawHeaders));
      expect(calls[0]!.url).toBe('/validate?timeout=5s');
      expect(sessions).toBe(1);
      // Idle for a second, the kit closes its session: the server's close() is not held up.
      await closed;
    } finally {
      await new Promise((resolve) => h2.close(resolve));
    }
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

  it('enforces timeoutSeconds on a webhook that accepts the connection but never completes TLS', async () => {
    const sockets = new Set<Socket>();
    const mute = createNetServer((socket) => {
      // Reads (and ignores) the ClientHello, so that it sees the kit hang up.
      socket.resume();
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const muteUrl = `https://127.0.0.1:${(mute.address() as AddressInfo).port}/`;
    let guard: NodeJS.Timeout | undefined;
    try {
      const call = api.callWebhook(muteUrl, { body: {}, timeoutSeconds: 1 });
      // Far past the 1 s asked for, so that a loaded machine does not flake; without the bound the call never settles.
      const hung = new Promise<'hung'>((resolve) => {
        guard = setTimeout(() => resolve('hung'), 15_000);
      });
      const outcome = await Promise.race([
        call.then(
          () => 'answered',
          (error: Error) => error.message,
        ),
        hung,
      ]);
      expect(outcome).toMatch(/within 1s/);
      // The kit dropped its half-open connection.
      const deadline = Date.now() + 10_000;
      while (sockets.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sockets.size).toBe(0);
    } finally {
      clearTimeout(guard);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    }
  });

  it('leaves no connection open after close() when the first calls to a webhook run at once', async () => {
    const kit = await startTestApiserver();
    const tls = await kit.issueServerCertificate();
    const sockets = new Set<TLSSocket>();
    const hook = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    hook.on('secureConnection', (socket: TLSSocket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `https://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    try {
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => kit.callWebhook(hookUrl, { body: {} })),
      );
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      await kit.close();
      const deadline = Date.now() + 10_000;
      while (sockets.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sockets.size).toBe(0);
    } finally {
      await kit.close();
      hook.closeAllConnections();
      await new Promise((resolve) => hook.close(resolve));
    }
  });

  it('a call still connecting when the kit closes leaves no connection behind', async () => {
    const kit = await startTestApiserver();
    const tls = await kit.issueServerCertificate();
    const sockets = new Set<TLSSocket>();
    const hook = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    hook.on('secureConnection', (socket: TLSSocket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    // Longer than the test: an idle connection the kit left open is not closed by the webhook.
    hook.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    // In between, a relay that holds the kit's connection until told to pass it on.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let accepted: () => void = () => {};
    const connected = new Promise<void>((resolve) => {
      accepted = resolve;
    });
    const relays = new Set<Socket>();
    const relay = createNetServer((client) => {
      relays.add(client);
      client.pause();
      accepted();
      void released.then(() => {
        const upstream = connectTcp((hook.address() as AddressInfo).port, '127.0.0.1', () => {
          client.pipe(upstream).pipe(client);
          client.resume();
        });
        relays.add(upstream);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayUrl = `https://127.0.0.1:${(relay.address() as AddressInfo).port}/`;
    try {
      const call = kit.callWebhook(relayUrl, { body: {}, timeoutSeconds: 5 }).then(
        () => 'answered',
        (error: Error) => error.message,
      );
      await connected;
      await kit.close();
      release();
      await call;
      const deadline = Date.now() + 10_000;
      while (sockets.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sockets.size).toBe(0);
    } finally {
      release();
      for (const socket of relays) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
      hook.closeAllConnections();
      await new Promise((resolve) => hook.close(resolve));
    }
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
