import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTokenRequest, decodeUnknown } from '../src/http/protobuf.js';
import { startTestApiserver, type TestApiserver } from '../src/index.js';
import { decodeJwt } from './helpers.js';

// `kubectl create token` sends a protobuf TokenRequest (recorded in test/fixtures/…/kubectl/).
// The recorded request bodies are replayed against the kit as kubectl sent them; where a
// kubectl binary is installed, it is run against the kit's kubeconfig as well.
const KUBECTL_DIR = new URL('../../../test/fixtures/kube-apiserver-v1.36.3/kubectl/', import.meta.url);
const recorded = (name: string) =>
  JSON.parse(readFileSync(new URL(`${name}.json`, KUBECTL_DIR), 'utf8')) as {
    stderr: string;
    requests: Array<{
      path: string;
      headers: [string, string][];
      bodyBase64?: string;
      response: { status: number; bodyBase64?: string };
    }>;
  };
const KUBECTL = ['/usr/local/bin/kubectl', '/usr/bin/kubectl'].find((p) => existsSync(p));
const run = promisify(execFile);

let api: TestApiserver;
beforeAll(async () => {
  api = await startTestApiserver();
  api.createObject('ServiceAccount', 'demo', 'webhook-client');
  api.createObject('Pod', 'demo', 'p1', { serviceAccount: 'webhook-client' });
});
afterAll(() => api.close());

async function replay(name: string): Promise<{ status: number; contentType: string; body: Buffer }> {
  const request = recorded(name).requests[0]!;
  const headers = Object.fromEntries(
    request.headers.filter(([k]) => !k.startsWith(':') && k !== 'authorization' && k !== 'content-length'),
  );
  const payload = Buffer.from(request.bodyBase64 ?? '', 'base64');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(request.path, api.url),
      {
        method: 'POST',
        ca: api.ca,
        agent: false,
        headers: {
          ...headers,
          authorization: `Bearer ${api.reviewer.token}`,
          'content-length': String(payload.length),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type']),
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('kubectl create token (protobuf)', () => {
  it('the recorded request of `kubectl create token --bound-object-kind=Pod` gets a protobuf TokenRequest', async () => {
    const { status, contentType, body } = await replay('create-token-pod-bound');
    expect(status).toBe(201);
    expect(contentType).toBe('application/vnd.kubernetes.protobuf');
    const envelope = decodeUnknown(body);
    expect([envelope.apiVersion, envelope.kind]).toEqual(['authentication.k8s.io/v1', 'TokenRequest']);
    const answer = decodeTokenRequest(envelope.raw) as {
      spec: { boundObjectRef: unknown; expirationSeconds: number };
    };
    expect(answer.spec).toMatchObject({
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1' },
      expirationSeconds: 3600,
    });
  });

  it('the recorded too-short request gets the recorded 422 as a protobuf Status', async () => {
    const file = recorded('create-token-too-short');
    const { status, contentType, body } = await replay('create-token-too-short');
    expect(status).toBe(422);
    expect(contentType).toBe('application/vnd.kubernetes.protobuf');
    // Byte for byte what kube-apiserver answered.
    expect(body.toString('base64')).toBe(file.requests[0]!.response.bodyBase64);
  });
});

describe.runIf(KUBECTL)('with the kubectl binary', () => {
  it('kubectl create token prints a token the kit reviews as that service account', async () => {
    const { stdout } = await run(KUBECTL!, [
      '--kubeconfig',
      api.kubeconfigPath,
      '-n',
      'demo',
      'create',
      'token',
      'webhook-client',
      '--bound-object-kind=Pod',
      '--bound-object-name=p1',
    ]);
    const token = stdout.trim();
    expect(decodeJwt(token).claims).toMatchObject({ sub: 'system:serviceaccount:demo:webhook-client' });
    expect(api.reviewToken(token).ok).toBe(true);
  });

  it('a refused request fails like against a real apiserver (the recorded stderr), never a parse error', async () => {
    const failure = await run(KUBECTL!, [
      '--kubeconfig',
      api.kubeconfigPath,
      '-n',
      'demo',
      'create',
      'token',
      'webhook-client',
      '--duration=5m',
    ]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toBe(recorded('create-token-too-short').stderr);
  });
});
