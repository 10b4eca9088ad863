import { request } from 'node:https';
import { type IssuedCertificate, startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertWidget } from '../convert.mjs';
import { startServer } from '../webhook.mjs';

// What kube-apiserver would be given as the token's audience for this CRD's conversion webhook.
const AUDIENCE = 'https://widget-converter.widgets.svc:443/convert';
const CALLER = { namespace: 'kube-system', serviceAccount: 'apiserver-conversion-caller' };

type Webhook = Awaited<ReturnType<typeof startServer>>;
/** A parsed answer: a ConversionReview, or an error body. */
type Answer = Record<string, unknown> & {
  response: { uid: string; convertedObjects: unknown[]; result: Record<string, unknown> };
};

let api: TestApiserver;
let tls: IssuedCertificate;
let webhook: Webhook;
const events: Record<string, unknown>[] = [];

beforeAll(async () => {
  api = await startTestApiserver();
  tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  webhook = await startServer({
    tls,
    host: '127.0.0.1',
    port: 0,
    auth: {
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      inCluster: false,
      env: {},
      policy: { serviceAccounts: [`${CALLER.namespace}:${CALLER.serviceAccount}`] },
    },
    log: (event) => events.push(event),
  });
});
afterAll(async () => {
  await webhook?.close();
  await api?.close();
});

const widgetV1alpha1 = (name: string, hostPort: string) => ({
  apiVersion: 'example.com/v1alpha1',
  kind: 'Widget',
  metadata: { name, namespace: 'demo', uid: `uid-${name}`, resourceVersion: '42', labels: { app: name } },
  spec: { hostPort, replicas: 2 },
  status: { ready: true },
});
const widgetV1 = (name: string, host: string, port: number) => ({
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name, namespace: 'demo', uid: `uid-${name}`, resourceVersion: '42', labels: { app: name } },
  spec: { host, port, replicas: 2 },
  status: { ready: true },
});
const conversionReview = (uid: string, desiredAPIVersion: string, objects: unknown[]) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'ConversionReview',
  request: { uid, desiredAPIVersion, objects },
});

/** POSTs over HTTPS as kube-apiserver does, trusting the CRD's caBundle. */
function post(
  body: string,
  token?: string,
  path = '/convert',
): Promise<{ status: number; headers: Record<string, unknown>; json: Answer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${webhook.url}${path}`, {
      method: path === '/healthz' ? 'GET' : 'POST',
      ca: tls.ca,
      headers: {
        ...(path === '/healthz' ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) }),
      );
    });
    req.on('error', reject);
    req.end(path === '/healthz' ? undefined : body);
  });
}

const genuine = (extra: Parameters<TestApiserver['mintToken']>[0] = {}) =>
  api.mintToken({ ...CALLER, audiences: [AUDIENCE], ...extra });

describe('fastify-conversion-webhook over HTTPS', () => {
  it('converts v1alpha1 -> v1 for the apiserver, and logs the caller, not the token', async () => {
    const token = await genuine();
    const before = events.length;
    const res = await post(
      JSON.stringify(conversionReview('r1', 'example.com/v1', [widgetV1alpha1('db', 'db.example.com:5432')])),
      token,
    );
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: {
        uid: 'r1',
        convertedObjects: [widgetV1('db', 'db.example.com', 5432)],
        result: { status: 'Success' },
      },
    });
    expect(events.slice(before)).toEqual([
      {
        event: 'converted',
        caller: 'system:serviceaccount:kube-system:apiserver-conversion-caller',
        token: expect.stringMatching(/^[\w-]{6,}$/),
        uid: 'r1',
        desiredAPIVersion: 'example.com/v1',
        objects: 1,
        result: 'Success',
      },
    ]);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('converts v1 -> v1alpha1 (a list: several objects in one review), losslessly round-trip', async () => {
    const objects = [widgetV1('a', 'a.example', 80), widgetV1('b', '[fd00::1]', 8443)];
    const res = await post(
      JSON.stringify(conversionReview('r2', 'example.com/v1alpha1', objects)),
      await genuine(),
    );
    expect(res.status).toBe(200);
    expect(res.json.response.convertedObjects).toEqual([
      widgetV1alpha1('a', 'a.example:80'),
      widgetV1alpha1('b', '[fd00::1]:8443'),
    ]);
    const back = res.json.response.convertedObjects.map((o: unknown) => convertWidget(o, 'example.com/v1'));
    expect(back).toEqual(objects);
  });

  it('answers a Failure result (HTTP 200) for an object that cannot be converted', async () => {
    const res = await post(
      JSON.stringify(conversionReview('r3', 'example.com/v1', [widgetV1alpha1('bad', 'no-port-here')])),
      await genuine(),
    );
    expect(res.status).toBe(200);
    expect(res.json.response).toEqual({
      uid: 'r3',
      convertedObjects: [],
      result: { status: 'Failure', message: 'Widget bad: spec.hostPort "no-port-here" is not host:port' },
    });
  });

  it('refuses a review without a token before parsing it (401), and converts nothing', async () => {
    const before = events.length;
    const res = await post('{"kind":"ConversionReview", truncated');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(events.slice(before)).toEqual([
      expect.objectContaining({ event: 'rejected', code: 'missing_token' }),
    ]);
  });

  it.each([
    ['a tampered signature', () => genuine({ tamper: 'signature' }), 'invalid_signature'],
    ['a key the cluster never published', () => genuine({ signWith: 'foreign' }), 'unknown_key'],
    [
      'a token for another webhook',
      () => genuine({ audiences: ['https://other.example/convert'] }),
      'audience_mismatch',
    ],
  ])('refuses a token with %s (401)', async (_case, make, code) => {
    const body = JSON.stringify(conversionReview('f', 'example.com/v1', [widgetV1alpha1('x', 'x:1')]));
    const res = await post(body, await make());
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: code });
  });

  it('refuses a genuine token of another service account (403)', async () => {
    const body = JSON.stringify(conversionReview('f', 'example.com/v1', [widgetV1alpha1('x', 'x:1')]));
    const res = await post(body, await genuine({ serviceAccount: 'someone-else' }));
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ error: 'forbidden' });
    expect(events.at(-1)).toMatchObject({
      event: 'rejected',
      code: 'forbidden',
      reason: expect.stringContaining('policy.serviceAccounts'),
    });
  });

  it('answers 400 to a verified caller whose body is not a ConversionReview', async () => {
    const res = await post(JSON.stringify({ kind: 'AdmissionReview' }), await genuine());
    expect(res.status).toBe(400);
  });

  it('keeps /healthz, outside the guarded scope, open', async () => {
    const res = await post('', undefined, '/healthz');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true });
  });
});
