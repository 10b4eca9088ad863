import { readFileSync } from 'node:fs';
import { type IssuedCertificate, startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deploymentReview, sendAdmissionReview } from '../send-review.mjs';
import { startServer } from '../webhook.mjs';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const CALLER = { namespace: 'kube-system', serviceAccount: 'apiserver-webhook-caller' };

// What a real kube-apiserver v1.28.4 sent to a webhook: its AdmissionReview and its token.
const recorded = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/kube-apiserver-v1.28.4/webhook/admission-request.json', import.meta.url),
    'utf8',
  ),
) as { headers: { authorization: string }; body: { request: { uid: string } } };

/**
 * The APISERVER_TOKEN_* variables deploy/40-deployment.yaml gives the container: the test's guard
 * reads its audience and its allowed service accounts from them, as server.mjs would.
 */
function deploymentEnv(): Record<string, string> {
  const text = readFileSync(new URL('../deploy/40-deployment.yaml', import.meta.url), 'utf8');
  const deployment = parseAllDocuments(text)
    .map(
      (document) =>
        document.toJS() as {
          kind?: string;
          spec?: {
            template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } };
          };
        },
    )
    .find((object) => object.kind === 'Deployment');
  const variables = deployment!.spec!.template.spec.containers[0]!.env;
  return Object.fromEntries(
    variables
      .filter(({ name }) => name.startsWith('APISERVER_TOKEN_'))
      .map(({ name, value }) => [name, value]),
  );
}

type Webhook = Awaited<ReturnType<typeof startServer>>;
type Event = Record<string, unknown>;

let api: TestApiserver;
let tls: IssuedCertificate;
let webhook: Webhook;
const events: Event[] = [];

beforeAll(async () => {
  api = await startTestApiserver();
  tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  webhook = await startServer({
    tls,
    host: '127.0.0.1',
    port: 0,
    auth: { issuer: api.issuer, jwks: { ca: api.ca }, inCluster: false, env: deploymentEnv() },
    log: (event: Event) => events.push(event),
  });
});
afterAll(async () => {
  await webhook?.close();
  await api?.close();
});

const send = async (token: string | undefined, review: unknown) => {
  const before = events.length;
  const res = await sendAdmissionReview({ url: `${webhook.url}/validate`, ca: tls.ca, token, review });
  return { ...res, logged: events.slice(before) };
};
const genuine = (extra: Parameters<TestApiserver['mintToken']>[0] = {}) =>
  api.mintToken({ ...CALLER, audiences: [AUDIENCE], ...extra });

describe('express-admission-webhook over HTTPS', () => {
  it("restricts callers with the library's policy, from the Deployment's variables", () => {
    expect(deploymentEnv()).toEqual({
      APISERVER_TOKEN_AUDIENCE: AUDIENCE,
      APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS: `${CALLER.namespace}:${CALLER.serviceAccount}`,
    });
  });

  it('allows a labelled Deployment from the apiserver and logs the caller, not the token', async () => {
    const token = await genuine();
    const res = await send(token, deploymentReview({ uid: 'uid-ok', labels: { team: 'web' } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-ok', allowed: true },
    });
    expect(res.logged).toEqual([
      expect.objectContaining({
        event: 'reviewed',
        caller: 'system:serviceaccount:kube-system:apiserver-webhook-caller',
        verifiedBy: 'jwks',
        uid: 'uid-ok',
        allowed: true,
      }),
    ]);
    expect(JSON.stringify(res.logged)).not.toContain(token);
  });

  it('denies an unlabelled Deployment by policy (403)', async () => {
    const res = await send(await genuine(), deploymentReview({ uid: 'uid-policy' }));
    expect(res.body.response).toEqual({
      uid: 'uid-policy',
      allowed: false,
      status: {
        status: 'Failure',
        code: 403,
        reason: 'Forbidden',
        message: expect.stringContaining('"team"'),
      },
    });
  });

  it('allows the AdmissionReview a real kube-apiserver sent, carried by a genuine token', async () => {
    const res = await send(await genuine(), recorded.body);
    expect(res.body.response).toEqual({ uid: recorded.body.request.uid, allowed: true });
  });

  it("refuses the real apiserver's own recorded token: another cluster's issuer", async () => {
    const token = recorded.headers.authorization.slice('Bearer '.length);
    const res = await send(token, recorded.body);
    expect(res.body.response).toMatchObject({
      uid: recorded.body.request.uid,
      allowed: false,
      status: { code: 401 },
    });
    expect(res.logged).toEqual([expect.objectContaining({ event: 'rejected', code: 'unknown_issuer' })]);
  });

  const forged: Array<[string, () => Promise<string | undefined>, number, string]> = [
    ['a tampered signature', () => genuine({ tamper: 'signature' }), 401, 'invalid_signature'],
    ['a tampered payload', () => genuine({ tamper: 'payload' }), 401, 'invalid_signature'],
    ["the attacker's own key", () => genuine({ signWith: 'foreign' }), 401, 'unknown_key'],
    ['"alg": "none"', () => genuine({ header: { alg: 'none' } }), 401, 'algorithm_not_allowed'],
    [
      'another audience',
      () => genuine({ audiences: ['https://other.other-ns.svc:443/validate'] }),
      401,
      'audience_mismatch',
    ],
    [
      'an expired token',
      () => genuine({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresIn: 3600 }),
      401,
      'expired',
    ],
    ['another issuer', () => genuine({ issuer: 'https://attacker.example' }), 401, 'unknown_issuer'],
    ['no token', async () => undefined, 401, 'missing_token'],
    [
      'a genuine token of a service account not allowed to call',
      () => api.mintToken({ namespace: 'default', serviceAccount: 'app', audiences: [AUDIENCE] }),
      403,
      'forbidden',
    ],
  ];
  it.each(forged)(
    'denies %s before the policy runs, with the uid echoed',
    async (_title, make, code, reason) => {
      const token = await make();
      const uid = `uid-${reason}`;
      // Labelled: the policy itself would allow it.
      const res = await send(token, deploymentReview({ uid, labels: { team: 'web' } }));
      expect(res.status).toBe(200);
      expect(res.body.response).toEqual({
        uid,
        allowed: false,
        status: {
          status: 'Failure',
          code,
          reason: code === 401 ? 'Unauthorized' : 'Forbidden',
          message: expect.stringMatching(new RegExp(`\\(${reason}\\)$`)),
        },
      });
      expect(res.logged).toEqual([expect.objectContaining({ event: 'rejected', code: reason, uid })]);
      if (token !== undefined) {
        expect(res.text).not.toContain(token);
        expect(JSON.stringify(res.logged)).not.toContain(token);
      }
    },
  );

  it('refuses a genuine token of a service account outside APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS by policy.serviceAccounts', async () => {
    const token = await api.mintToken({ namespace: 'default', serviceAccount: 'app', audiences: [AUDIENCE] });
    const res = await send(token, deploymentReview({ uid: 'uid-other-sa', labels: { team: 'web' } }));
    expect(res.body.response).toMatchObject({ uid: 'uid-other-sa', allowed: false, status: { code: 403 } });
    expect(res.logged).toEqual([
      expect.objectContaining({
        event: 'rejected',
        code: 'forbidden',
        reason: expect.stringContaining('policy.serviceAccounts'),
      }),
    ]);
  });

  it('answers a non-AdmissionReview with a plain 401 when unauthenticated and 400 when authenticated', async () => {
    expect((await send(undefined, { hello: 'world' })).status).toBe(401);
    expect((await send(await genuine(), { hello: 'world' })).status).toBe(400);
  });

  it('reports health and readiness', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await sendGet(`${webhook.url}${path}`, tls.ca);
      expect(res, path).toBe(200);
    }
  });
});

async function sendGet(url: string, ca: string): Promise<number> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    request(url, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}
