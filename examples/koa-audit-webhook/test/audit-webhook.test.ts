import { request } from 'node:https';
import { type IssuedCertificate, startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../webhook.mjs';

const AUDIENCE = 'https://audit-sink.audit.svc:443/audit';
const CALLER = { namespace: 'kube-system', serviceAccount: 'apiserver-audit-writer' };

type Webhook = Awaited<ReturnType<typeof startServer>>;
type Record_ = Record<string, unknown>;

let api: TestApiserver;
let tls: IssuedCertificate;
let webhook: Webhook;
const logged: Record_[] = [];

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
      // The variable server.mjs leaves to the library, as the README's configuration table sets it.
      env: { APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS: `${CALLER.namespace}:${CALLER.serviceAccount}` },
    },
    log: (record) => logged.push(record),
  });
});
afterAll(async () => {
  await webhook?.close();
  await api?.close();
});

/** An audit event as kube-apiserver's audit webhook sends it (audit.k8s.io/v1, stage ResponseComplete). */
const auditEvent = (auditID: string, verb: string, name: string) => ({
  level: 'Metadata',
  auditID,
  stage: 'ResponseComplete',
  requestURI: `/api/v1/namespaces/demo/configmaps/${name}`,
  verb,
  user: { username: 'alice@example.com', groups: ['system:authenticated'] },
  sourceIPs: ['10.0.0.7'],
  userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
  objectRef: { resource: 'configmaps', namespace: 'demo', name, apiVersion: 'v1' },
  responseStatus: { metadata: {}, code: 200 },
  requestReceivedTimestamp: '2026-01-05T10:00:00.000000Z',
  stageTimestamp: '2026-01-05T10:00:00.004000Z',
  annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
});
const eventList = (...items: unknown[]) => ({
  kind: 'EventList',
  apiVersion: 'audit.k8s.io/v1',
  metadata: {},
  items,
});

/** POSTs over HTTPS, trusting the webhook's CA (what kube-apiserver does with certificate-authority). */
function post(
  body: string,
  token?: string,
  path = '/audit',
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${webhook.url}${path}`, {
      method: 'POST',
      ca: tls.ca,
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const genuine = (extra: Parameters<TestApiserver['mintToken']>[0] = {}) =>
  api.mintToken({ ...CALLER, audiences: [AUDIENCE], ...extra });

/** Sends and returns what got logged meanwhile. */
async function send(body: unknown, token?: string) {
  const before = logged.length;
  const res = await post(typeof body === 'string' ? body : JSON.stringify(body), token);
  return { ...res, logged: logged.slice(before) };
}

describe('koa-audit-webhook over HTTPS', () => {
  it('accepts an EventList from the apiserver and logs each event with the caller identity', async () => {
    const token = await genuine();
    const res = await send(
      eventList(auditEvent('a1', 'create', 'settings'), auditEvent('a2', 'delete', 'old')),
      token,
    );
    expect(res.status).toBe(200);
    expect(res.logged).toEqual([
      {
        event: 'audit',
        reportedBy: 'system:serviceaccount:kube-system:apiserver-audit-writer',
        reportedByToken: expect.stringMatching(/^[\w-]{6,}$/),
        auditID: 'a1',
        stage: 'ResponseComplete',
        level: 'Metadata',
        verb: 'create',
        user: 'alice@example.com',
        resource: 'configmaps',
        namespace: 'demo',
        name: 'settings',
        requestURI: '/api/v1/namespaces/demo/configmaps/settings',
        code: 200,
      },
      expect.objectContaining({ auditID: 'a2', verb: 'delete', name: 'old' }),
    ]);
    expect(JSON.stringify(logged)).not.toContain(token);
  });

  it('refuses a batch without a token before reading its body, and logs no event', async () => {
    // Not even JSON: a 401 (not a 400) shows the body was never parsed.
    const res = await send('{"kind":"EventList", truncated');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.logged).toEqual([expect.objectContaining({ event: 'rejected', code: 'missing_token' })]);
  });

  it.each([
    ['a tampered signature', () => genuine({ tamper: 'signature' }), 'invalid_signature'],
    ['a key the cluster never published', () => genuine({ signWith: 'foreign' }), 'unknown_key'],
    [
      'a token for another webhook',
      () => genuine({ audiences: ['https://other.example/audit'] }),
      'audience_mismatch',
    ],
    [
      'an expired token',
      () => genuine({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresIn: 3600 }),
      'expired',
    ],
  ])('refuses forged events signed with %s (401), logging none of them', async (_case, make, code) => {
    const token = await make();
    const res = await send(eventList(auditEvent('forged', 'delete', 'evidence')), token);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toMatchObject({ error: code });
    expect(res.logged).toEqual([expect.objectContaining({ event: 'rejected', code })]);
    expect(res.text).not.toContain(token);
  });

  it('refuses a genuine token of another service account (403)', async () => {
    const token = await genuine({ serviceAccount: 'someone-else' });
    const res = await send(eventList(auditEvent('x', 'get', 'y')), token);
    expect(res.status).toBe(403);
    expect(res.logged).toEqual([
      expect.objectContaining({
        event: 'rejected',
        code: 'forbidden',
        reason: expect.stringContaining('policy.serviceAccounts'),
      }),
    ]);
  });

  it('answers 400 to a verified caller whose body is not an audit.k8s.io/v1 EventList', async () => {
    const res = await send(
      { kind: 'EventList', apiVersion: 'audit.k8s.io/v1beta1', items: [] },
      await genuine(),
    );
    expect(res.status).toBe(400);
    expect(res.logged).toEqual([]);
  });

  it('keeps /healthz and /readyz open and reports ready once keys are loaded', async () => {
    const health = await new Promise<number>((resolve, reject) => {
      request(`${webhook.url}/readyz`, { ca: tls.ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(health).toBe(200);
  });
});
