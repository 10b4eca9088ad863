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
const recordedFile = (name: string) =>
  JSON.parse(readFileSync(new URL(`${name}.json`, KUBECTL_DIR), 'utf8')) as { stdout: string };
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

describe('kubectl create -f of a TokenReview (JSON, after OpenAPI and discovery)', () => {
  interface Recorded {
    stdout: string;
    requests: Array<{ method: string; path: string; headers: [string, string][]; body?: unknown }>;
  }
  const file = JSON.parse(
    readFileSync(new URL('create-tokenreview-from-file.json', KUBECTL_DIR), 'utf8'),
  ) as Recorded;

  async function send(request: Recorded['requests'][number], body?: unknown) {
    const headers = Object.fromEntries(
      request.headers.filter(([k]) => !k.startsWith(':') && k !== 'authorization' && k !== 'accept-encoding'),
    );
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<{ status: number; contentType: string; body: Buffer }>((resolve, reject) => {
      const req = httpsRequest(
        new URL(request.path, api.url),
        {
          method: request.method,
          ca: api.ca,
          agent: false,
          headers: {
            ...headers,
            authorization: `Bearer ${api.reviewer.token}`,
            ...(payload ? { 'content-length': String(payload.length) } : {}),
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

  it('answers every request kubectl sent, in order, with what lets kubectl go on (the recorded requests replayed)', async () => {
    const paths = file.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`);
    expect(paths).toEqual([
      'GET /openapi/v3',
      'GET /openapi/v3/apis/authentication.k8s.io/v1',
      'GET /openapi/v2',
      'GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      'GET /api',
      'GET /apis',
      'POST /apis/authentication.k8s.io/v1/tokenreviews',
    ]);
    const [v3, v3group, v2, crds, core, groups, post] = file.requests as [
      Recorded['requests'][number],
      ...Recorded['requests'],
    ];
    // No OpenAPI v3: a 404, on which kubectl falls back to v2 (as against any server without v3).
    expect((await send(v3)).status).toBe(404);
    expect((await send(v3group!)).status).toBe(404);
    // OpenAPI v2 in the protobuf kubectl asks for: a document without definitions, so kubectl
    // validates nothing client-side and leaves it to the server (fieldValidation=Strict).
    const openapi = await send(v2!);
    expect(openapi.status).toBe(200);
    expect(openapi.contentType).toBe('application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    expect(openapi.body.toString('latin1')).toContain('2.0');
    // The reviewer may not list CRDs (kubectl recorded as cluster-admin): a JSON Status, which
    // kubectl only consults for custom kinds.
    const crdList = await send(crds!);
    expect(crdList.status).toBe(403);
    expect(JSON.parse(crdList.body.toString('utf8'))).toMatchObject({ kind: 'Status', code: 403 });
    // Aggregated discovery asked for, legacy discovery answered: kubectl falls back to it.
    for (const request of [core!, groups!]) {
      const answer = await send(request);
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe('application/json');
      expect(JSON.parse(answer.body.toString('utf8')).kind).toMatch(/^APIVersions|APIGroupList$/);
    }
    const token = await api.mintToken({
      namespace: 'demo',
      serviceAccount: 'webhook-client',
      audiences: ['https://webhook.example'],
    });
    const recordedBody = post!.body as { spec: { token: string } };
    const created = await send(post!, { ...recordedBody, spec: { ...recordedBody.spec, token } });
    expect(created.status).toBe(201);
    const review = JSON.parse(created.body.toString('utf8')) as Record<string, unknown>;
    const expected = JSON.parse(file.stdout) as Record<string, unknown>;
    expect(Object.keys(review).sort()).toEqual(Object.keys(expected).sort());
    expect((review.status as { authenticated: boolean }).authenticated).toBe(true);
    expect((review.metadata as { managedFields: Array<{ manager: string }> }).managedFields[0]!.manager).toBe(
      'kubectl-create',
    );
  });

  it('OpenAPI v2 as JSON for a JSON Accept', async () => {
    const json = await send({
      method: 'GET',
      path: '/openapi/v2',
      headers: [['accept', 'application/json']],
    });
    expect(json.contentType).toBe('application/json');
    expect(JSON.parse(json.body.toString('utf8'))).toMatchObject({ swagger: '2.0', paths: {} });
  });
});

describe.runIf(KUBECTL)('with the kubectl binary', () => {
  it('kubectl create -f tokenreview.yaml works with its default validation, as against a real apiserver', async () => {
    const token = await api.mintToken({
      namespace: 'demo',
      serviceAccount: 'webhook-client',
      audiences: ['https://webhook.example'],
    });
    const manifest = api.writeFile(
      'tokenreview.yaml',
      `apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: ${token}\n  audiences: ["https://webhook.example"]\n`,
    );
    const { stdout } = await run(KUBECTL!, [
      '--kubeconfig',
      api.kubeconfigPath,
      'create',
      '-f',
      await manifest,
      '-o',
      'json',
    ]);
    const review = JSON.parse(stdout) as { status: Record<string, unknown> };
    const recordedReview = JSON.parse(recordedFile('create-tokenreview-from-file').stdout) as {
      status: Record<string, unknown>;
    };
    expect(Object.keys(review.status).sort()).toEqual(Object.keys(recordedReview.status).sort());
    expect(review.status).toMatchObject({
      authenticated: true,
      audiences: ['https://webhook.example'],
      user: { username: 'system:serviceaccount:demo:webhook-client' },
    });
  });

  it('kubectl create -f with a misspelt field fails with the server-side strict decoding error', async () => {
    const manifest = await api.writeFile(
      'tokenreview-typo.yaml',
      'apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: x\n  audience: ["https://webhook.example"]\n',
    );
    const failure = await run(KUBECTL!, ['--kubeconfig', api.kubeconfigPath, 'create', '-f', manifest]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toBe(
      `Error from server (BadRequest): error when creating "${manifest}": TokenReview in version "v1" cannot be handled as a TokenReview: strict decoding error: unknown field "spec.audience"\n`,
    );
  });

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
