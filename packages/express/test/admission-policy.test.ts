/**
 * Admission mode, policy and client certificates through the Express adapter, on Express 4 and 5
 * over real sockets: with and without `express.json()`, the AdmissionReview reaches the KEP-6060
 * checks and the handler.
 */
import { request as httpRequest } from 'node:http';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { VerifierOptions } from '@apiserver-token/core';
import { type ExpressVerifyApiserverTokenOptions, verifyApiserverToken } from '@apiserver-token/express';
import {
  admissionReview,
  type IssuedCertificate,
  startTestApiserver,
  type TestApiserver,
} from '@apiserver-token/testing';
import type { Request, RequestHandler } from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXPRESS_VERSIONS, listen } from './helpers.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const WEBHOOK = { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' } as const;

let api: TestApiserver;
let base: VerifierOptions;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  api = await startTestApiserver();
  base = { audience: AUDIENCE, issuer: api.issuer, jwks: { ca: api.ca }, inCluster: false, env: {} };
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const secret = (uid: string) =>
  admissionReview({
    uid,
    kind: { version: 'v1', kind: 'Secret' },
    resource: { version: 'v1', resource: 'secrets' },
    namespace: 'default',
    name: 's',
  });
const deployment = (uid: string) =>
  admissionReview({
    uid,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    namespace: 'default',
    name: 'web',
  });
const webhookToken = (apiGroups: string[]) =>
  api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups });

interface Answer {
  status: number;
  body: {
    error?: string;
    uid?: string;
    caller?: string;
    verifiedBy?: string;
    response?: { uid: string; allowed: boolean; status?: { code: number } };
  };
}

function post(
  url: string,
  token: string | undefined,
  payload: string | Buffer,
  contentType = 'application/json',
) {
  return new Promise<Answer>((resolve, reject) => {
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': contentType,
          'content-length': body.length,
          ...(token && { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            body: text.startsWith('{') ? JSON.parse(text) : { error: text },
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(EXPRESS_VERSIONS)('%s', (_name, express) => {
  /** The webhook route: optional parsers, the guard, then a handler that allows and echoes what it saw. */
  async function start(options: ExpressVerifyApiserverTokenOptions, ...parsers: RequestHandler[]) {
    const guard = verifyApiserverToken({ ...base, admission: true, ...options });
    const app = express();
    app.post('/validate', ...parsers, guard, (req: Request, res) => {
      res.json({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: req.body.request.uid, allowed: true },
        caller: req.apiserver?.username,
        verifiedBy: req.apiserver?.verifiedBy,
      });
    });
    const server = await listen(app);
    closers.push(async () => {
      await server.close();
      await guard.close();
    });
    return `${server.url}/validate`;
  }

  const variants: Array<[string, RequestHandler[]]> = [
    ['without a body parser', []],
    ['after express.json()', [express.json() as RequestHandler]],
  ];
  for (const [label, parsers] of variants) {
    it(`${label}: ["apps"] allows a Deployment, denies a Secret in an AdmissionReview with its uid`, async () => {
      const url = await start({}, ...parsers);
      const apps = await webhookToken(['apps']);
      const allowed = await post(url, apps, JSON.stringify(deployment('uid-d')));
      expect(allowed).toMatchObject({ status: 200, body: { response: { uid: 'uid-d', allowed: true } } });
      const denied = await post(url, apps, JSON.stringify(secret('uid-s')));
      expect(denied.status).toBe(200);
      expect(denied.body.response).toMatchObject({ uid: 'uid-s', allowed: false, status: { code: 403 } });
      expect(await post(url, await webhookToken(['*']), JSON.stringify(secret('uid-all')))).toMatchObject({
        body: { response: { uid: 'uid-all', allowed: true } },
      });
    });
  }

  it('express.json() skipped by an unexpected content type: the stream is still read', async () => {
    const url = await start({}, express.json());
    const answer = await post(
      url,
      await webhookToken(['apps']),
      JSON.stringify(deployment('uid-t')),
      'text/plain',
    );
    expect(answer).toMatchObject({ status: 200, body: { response: { uid: 'uid-t', allowed: true } } });
  });

  it('over 3 MiB without a parser: 413, never a 500; malformed JSON: 400', async () => {
    const url = await start({});
    const token = await webhookToken(['*']);
    const review = deployment('uid-big') as { request: Record<string, unknown> };
    review.request.object = { padding: 'x'.repeat(3 * 1024 * 1024) };
    expect(await post(url, token, JSON.stringify(review))).toMatchObject({
      status: 413,
      body: { error: 'admission_review_too_large' },
    });
    expect(await post(url, token, '{"kind":')).toMatchObject({
      status: 400,
      body: { error: 'malformed_admission_review' },
    });
  });

  it('policy: a service account outside the allow-list is denied in the AdmissionReview (403)', async () => {
    const url = await start({ policy: { serviceAccounts: ['kube-system:webhook-auth'] } });
    const allowed = await api.mintWebhookToken({ webhook: WEBHOOK, audience: AUDIENCE, apiGroups: ['*'] });
    expect((await post(url, allowed, JSON.stringify(secret('uid-p1')))).body).toMatchObject({
      caller: 'system:serviceaccount:kube-system:webhook-auth',
    });
    // Issuance needs this service account to hold `attest` on the attested group ('*') (KEP-6060).
    api.allow({
      user: 'system:serviceaccount:default:intruder',
      verb: 'attest',
      apiGroup: 'authentication.k8s.io',
      resource: 'admissionReviewAPIGroups',
      name: '*',
    });
    const other = await api.mintWebhookToken({
      webhook: WEBHOOK,
      audience: AUDIENCE,
      namespace: 'default',
      serviceAccount: 'intruder',
    });
    expect((await post(url, other, JSON.stringify(secret('uid-p2')))).body.response).toMatchObject({
      uid: 'uid-p2',
      allowed: false,
      status: { code: 403 },
    });
  });

  it('client certificates over HTTPS (requestCert): accepted instead of a token', async () => {
    const tls: IssuedCertificate = await api.issueServerCertificate({ ipAddresses: ['127.0.0.1'] });
    const client = await api.issueClientCertificate({
      commonName: 'front-proxy-client',
      organizations: ['aggregator'],
    });
    const guard = verifyApiserverToken({
      ...base,
      clientCertificate: { mode: 'accept', ca: api.clientCa, allowedCommonNames: ['front-proxy-client'] },
    });
    const app = express();
    app.get('/apis', guard, (req: Request, res) => {
      res.json({ caller: req.apiserver?.username, verifiedBy: req.apiserver?.verifiedBy });
    });
    const server = createServer(
      { cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: false, ca: api.clientCa },
      app,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await guard.close();
    });
    const get = (cert?: IssuedCertificate) =>
      new Promise<Answer>((resolve, reject) => {
        const req = httpsRequest(
          `https://127.0.0.1:${(server.address() as AddressInfo).port}/apis`,
          { agent: false, ca: tls.ca, ...(cert && { cert: cert.cert, key: cert.key }) },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect(await get(client)).toEqual({
      status: 200,
      body: { caller: 'front-proxy-client', verifiedBy: 'client-certificate' },
    });
    expect(await get()).toMatchObject({ status: 401, body: { error: 'missing_token' } });
  });
});
