/**
 * Admission mode (KEP-6060) through the shared HTTP layer every adapter uses: a plain HTTPS
 * server hands `createHttpAuthenticator` the raw request stream (no body parser), the testing
 * kit mints webhook tokens and calls the server the way kube-apiserver does. Both identity paths
 * are covered: token claims (jwks) and TokenReview `extra` (tokenreview).
 */
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  admissionReview,
  type IssuedCertificate,
  startTestApiserver,
  type TestApiserver,
} from '@apiserver-token/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiserverTokenConfigError,
  createHttpAuthenticator,
  createVerifier,
  type HttpAuthenticator,
  type VerifyApiserverTokenOptions,
  webhookAudience,
} from '../src/index.js';

const SERVICE = { name: 'my-webhook', namespace: 'my-ns', path: '/validate' };
const AUDIENCE = webhookAudience({ service: SERVICE });
const WEBHOOK = { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' } as const;

let api: TestApiserver;
let tls: IssuedCertificate;
const opened: Array<{ server: Server; authenticator: HttpAuthenticator }> = [];

beforeAll(async () => {
  api = await startTestApiserver();
  tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  for (const { server, authenticator } of opened.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await authenticator.close();
  }
});

type Mode = 'jwks' | 'tokenreview';

/** A webhook server over HTTPS that allows whatever passes authentication, echoing the identity. */
async function webhook(mode: Mode, options: Partial<VerifyApiserverTokenOptions> = {}): Promise<string> {
  const authenticator = createHttpAuthenticator({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    mode,
    kubeconfig: api.kubeconfigPath,
    inCluster: false,
    env: {},
    admission: true,
    ...options,
  });
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    authenticator
      .authenticate(
        { headers: req.headers, rawHeaders: req.rawHeaders, socket: req.socket, stream: req },
        req,
      )
      .then((outcome) => {
        if (!outcome.ok) {
          res.writeHead(outcome.response.status, outcome.response.headers);
          res.end(JSON.stringify(outcome.response.body));
          return;
        }
        const review = outcome.body as { apiVersion: string; request: { uid: string } };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            apiVersion: review.apiVersion,
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, allowed: true },
            verifiedBy: outcome.identity.verifiedBy,
          }),
        );
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push({ server, authenticator });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}${SERVICE.path}`;
}

const webhookToken = (
  apiGroups: string[] | undefined,
  extra: Partial<Parameters<TestApiserver['mintWebhookToken']>[0]> = {},
) => api.mintWebhookToken({ webhook: WEBHOOK, audience: SERVICE, ...(apiGroups && { apiGroups }), ...extra });

const secret = (uid: string) =>
  admissionReview({
    uid,
    kind: { version: 'v1', kind: 'Secret' },
    resource: { version: 'v1', resource: 'secrets' },
    namespace: 'default',
    name: 's',
    object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } },
  });
const deployment = (uid: string) =>
  admissionReview({
    uid,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    namespace: 'default',
    name: 'web',
    object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } },
  });
// kubectl scale: the resource is apps/deployments, the object an autoscaling/v1 Scale.
const scale = (uid: string) =>
  admissionReview({
    uid,
    operation: 'UPDATE',
    kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    subResource: 'scale',
    namespace: 'default',
    name: 'web',
    object: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: { replicas: 3 } },
  });

/** What the webhook answers: an AdmissionReview (with the echoed `verifiedBy`) or an HTTP error body. */
interface Answer {
  error?: string;
  verifiedBy?: string;
  apiVersion?: string;
  response: { uid: string; allowed: boolean; status: { code: number; reason: string; message: string } };
}

async function send(url: string, token: string | undefined, body: unknown) {
  const res = await api.callWebhook(url, { token, body, ca: tls.ca });
  return { status: res.status, json: res.json as Answer };
}

/** `allowed` or `denied <status.code> <code>` from an AdmissionReview answer; anything else is an HTTP status. */
async function verdict(url: string, token: string | undefined, body: unknown): Promise<string> {
  const { status, json } = await send(url, token, body);
  if (status !== 200) return `http ${status} ${json?.error}`;
  const response = json.response;
  expect(response.uid).toBe((body as { request: { uid: string } }).request.uid);
  if (response.allowed === true) return 'allowed';
  return `denied ${response.status.code} ${/\((\w+)\)$/.exec(response.status.message)?.[1]}`;
}

for (const mode of ['jwks', 'tokenreview'] as const) {
  describe(`KEP-6060 attestation checks (${mode})`, () => {
    it('["apps"] covers a Deployment but not a Secret; ["*"] covers both; the uid is echoed', async () => {
      const url = await webhook(mode);
      const apps = await webhookToken(['apps']);
      expect(await verdict(url, apps, deployment('uid-1'))).toBe('allowed');
      expect(await verdict(url, apps, secret('uid-2'))).toBe('denied 403 attestation_mismatch');
      const all = await webhookToken(['*']);
      expect(await verdict(url, all, secret('uid-3'))).toBe('allowed');
      // The identity (binding, attestation) came from the token's claims, or from TokenReview's extra.
      expect((await send(url, all, deployment('uid-3b'))).json.verifiedBy).toBe(mode);
      expect(api.calls('tokenreviews') > 0).toBe(mode === 'tokenreview');
      expect(await verdict(url, all, deployment('uid-4'))).toBe('allowed');
      const { json } = await send(url, apps, secret('uid-5'));
      expect(json).toEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: 'uid-5',
          allowed: false,
          status: {
            status: 'Failure',
            code: 403,
            reason: 'Forbidden',
            message: 'apiserver-token: the token is not attested for this request (attestation_mismatch)',
          },
        },
      });
    });

    it('deployments/scale is checked against request.resource.group (apps), not the Scale object', async () => {
      const url = await webhook(mode);
      expect(await verdict(url, await webhookToken(['apps']), scale('uid-s1'))).toBe('allowed');
      expect(await verdict(url, await webhookToken(['autoscaling']), scale('uid-s2'))).toBe(
        'denied 403 attestation_mismatch',
      );
    });

    it('the core group passes only with "*", never with an empty group name', async () => {
      const url = await webhook(mode);
      // Issuance refuses "" and several groups (422): only forged tokens carry them.
      const forged = (admissionReviewAPIGroups: string[]) =>
        api.mintToken({
          namespace: 'kube-system',
          serviceAccount: 'webhook-auth',
          audiences: [AUDIENCE],
          expiresIn: 600,
          boundObject: WEBHOOK,
          attestations: { admissionReviewAPIGroups },
        });
      expect(await verdict(url, await forged(['']), secret('uid-c1'))).toBe(
        'denied 403 attestation_mismatch',
      );
      expect(await verdict(url, await forged(['apps', 'batch']), secret('uid-c2'))).toBe(
        'denied 403 attestation_mismatch',
      );
      expect(await verdict(url, await webhookToken(['*']), secret('uid-c3'))).toBe('allowed');
    });

    it('a webhook-bound token without attestation is denied; an empty attestation too', async () => {
      const url = await webhook(mode);
      const unattested = await api.mintToken({
        namespace: 'kube-system',
        serviceAccount: 'webhook-auth',
        audiences: [AUDIENCE],
        expiresIn: 600,
        boundObject: WEBHOOK,
      });
      expect(await verdict(url, unattested, deployment('uid-n1'))).toBe('denied 403 attestation_mismatch');
      // Issuance refuses an empty attestation (422): only a forged token carries one.
      const emptyAttestation = await api.mintToken({
        namespace: 'kube-system',
        serviceAccount: 'webhook-auth',
        audiences: [AUDIENCE],
        expiresIn: 600,
        boundObject: WEBHOOK,
        attestations: { admissionReviewAPIGroups: [] },
      });
      expect(await verdict(url, emptyAttestation, deployment('uid-n2'))).toBe(
        'denied 403 attestation_mismatch',
      );
    });

    it('boundTo: another configuration name or kind is denied', async () => {
      const url = await webhook(mode, { admission: { boundTo: WEBHOOK } });
      expect(await verdict(url, await webhookToken(['*']), deployment('uid-b1'))).toBe('allowed');
      const otherName = await webhookToken(['*'], { webhook: { ...WEBHOOK, name: 'other-webhook' } });
      expect(await verdict(url, otherName, deployment('uid-b2'))).toBe('denied 403 attestation_mismatch');
      const mutating = await webhookToken(['*'], {
        webhook: { kind: 'MutatingWebhookConfiguration', name: 'my-webhook' },
      });
      expect(await verdict(url, mutating, deployment('uid-b3'))).toBe('denied 403 attestation_mismatch');
    });

    it('a classic token (not webhook-bound) is accepted by default, refused with requireWebhookBinding', async () => {
      const classic = await api.mintToken({
        namespace: 'kube-system',
        serviceAccount: 'apiserver',
        audiences: [AUDIENCE],
      });
      expect(await verdict(await webhook(mode), classic, secret('uid-k1'))).toBe('allowed');
      const strict = await webhook(mode, { admission: { requireWebhookBinding: true } });
      expect(await verdict(strict, classic, secret('uid-k2'))).toBe('denied 403 attestation_mismatch');
      expect(await verdict(strict, await webhookToken(['*']), secret('uid-k3'))).toBe('allowed');
      // A token that is not bound but carries attestations anyway: they are enforced.
      const attestedOnly = await api.mintToken({
        audiences: [AUDIENCE],
        attestations: { admissionReviewAPIGroups: ['apps'] },
      });
      expect(await verdict(await webhook(mode), attestedOnly, secret('uid-k4'))).toBe(
        'denied 403 attestation_mismatch',
      );
    });

    it("a token bound to another webhook's audience, a forged one and none are denied in the AdmissionReview", async () => {
      const url = await webhook(mode);
      const otherAudience = await api.mintWebhookToken({
        webhook: { ...WEBHOOK, name: 'other-webhook' },
        audience: { name: 'other-webhook', namespace: 'other-ns' },
      });
      expect(await verdict(url, otherAudience, deployment('uid-a1'))).toMatch(
        /^denied 401 (audience_mismatch|token_rejected)$/,
      );
      const forged = await webhookToken(['*'], { signWith: 'foreign' });
      expect(await verdict(url, forged, deployment('uid-a2'))).toMatch(/^denied 401 /);
      expect(await verdict(url, undefined, deployment('uid-a3'))).toBe('denied 401 missing_token');
    });
  });
}

describe('the AdmissionReview body', () => {
  /** POSTs raw bytes (the kit's caller only sends valid JSON). */
  function post(url: string, token: string, payload: Buffer): Promise<{ status: number; json: Answer }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method: 'POST',
          ca: tls.ca,
          agent: false,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': payload.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  it('over 3 MiB: 413 admission_review_too_large, cleanly; just under is read', async () => {
    const url = await webhook('jwks');
    const token = await webhookToken(['*']);
    const padded = (bytes: number) => {
      const review = deployment('uid-big') as { request: { object: Record<string, unknown> } };
      review.request.object.padding = 'x'.repeat(bytes);
      return Buffer.from(JSON.stringify(review));
    };
    const big = await post(url, token, padded(3 * 1024 * 1024 + 10));
    expect(big).toEqual({
      status: 413,
      json: { error: 'admission_review_too_large', error_description: 'the request body is too large' },
    });
    const fits = await post(url, token, padded(3 * 1024 * 1024 - 2048));
    expect(fits.status).toBe(200);
    expect(fits.json.response).toEqual({ uid: 'uid-big', allowed: true });
  });

  it('malformed JSON is a 400; an AdmissionReview without request.resource is denied with its uid', async () => {
    const url = await webhook('jwks');
    const token = await webhookToken(['*']);
    expect(await post(url, token, Buffer.from('{"kind":"AdmissionReview",'))).toEqual({
      status: 400,
      json: {
        error: 'malformed_admission_review',
        error_description: 'the request body is not a valid AdmissionReview',
      },
    });
    const incomplete = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'uid-m1' },
    };
    const answer = await post(url, token, Buffer.from(JSON.stringify(incomplete)));
    expect(answer.status).toBe(200);
    expect(answer.json.response).toMatchObject({
      uid: 'uid-m1',
      allowed: false,
      status: { code: 400, reason: 'BadRequest' },
    });
    expect((await post(url, token, Buffer.from('[1,2]'))).status).toBe(400);
  });

  it('a parsed body (Buffer, string or object) is used as is; respond: http gives plain statuses', async () => {
    const verifier = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      env: {},
      admission: { respond: 'http', maxBodyBytes: 2048 },
    });
    const token = await webhookToken(['apps']);
    const headers = { authorization: `Bearer ${token}` };
    await expect(verifier.verify({ headers, body: deployment('p1') })).resolves.toMatchObject({
      verifiedBy: 'jwks',
    });
    await expect(verifier.verify({ headers, body: JSON.stringify(deployment('p2')) })).resolves.toBeDefined();
    await expect(
      verifier.verify({ headers, body: Buffer.from(JSON.stringify(secret('p3'))) }),
    ).rejects.toMatchObject({
      code: 'attestation_mismatch',
      status: 403,
    });
    await expect(verifier.verify({ headers, body: 'x'.repeat(4096) })).rejects.toMatchObject({ status: 413 });
    // Admission mode needs the request: verifyToken alone cannot be checked.
    await expect(verifier.verifyToken(token)).rejects.toMatchObject({ code: 'malformed_admission_review' });
    await expect(verifier.verifyToken(token, { headers: {}, body: deployment('p4') })).resolves.toBeDefined();
    expect(verifier.admission).toEqual({ respond: 'http', maxBodyBytes: 2048 });
    await verifier.close();

    const url = await webhook('jwks', { admission: { respond: 'http' } });
    expect(await send(url, token, secret('p5'))).toMatchObject({
      status: 403,
      json: { error: 'attestation_mismatch' },
    });
  });
});

describe('webhookAudience and admission options', () => {
  it('builds the audience kube-apiserver uses for a service reference or a URL', () => {
    expect(webhookAudience({ service: { name: 'svc', namespace: 'ns' } })).toBe('https://svc.ns.svc:443/');
    expect(
      webhookAudience({ service: { name: 'svc', namespace: 'ns', port: 8443, path: '/validate' } }),
    ).toBe('https://svc.ns.svc:8443/validate');
    // A URL webhook's audience is the URL verbatim, not normalised.
    expect(webhookAudience({ url: 'https://Hooks.Example.com:443/a/../b' })).toBe(
      'https://Hooks.Example.com:443/a/../b',
    );
    for (const bad of [
      { url: 'http://insecure.example/' },
      { service: { name: 'Svc', namespace: 'ns' } },
      { service: { name: 'svc', namespace: 'ns', port: 0 } },
      { service: { name: 'svc', namespace: 'ns', path: 'validate' } },
    ]) {
      expect(() => webhookAudience(bad as never)).toThrow(ApiserverTokenConfigError);
    }
  });

  it('invalid admission options and variables fail at construction naming the field', () => {
    const field = (options: Partial<VerifyApiserverTokenOptions>) => {
      try {
        createVerifier({ audience: AUDIENCE, issuer: api.issuer, jwks: { ca: api.ca }, env: {}, ...options });
      } catch (error) {
        expect(error).toBeInstanceOf(ApiserverTokenConfigError);
        return (error as ApiserverTokenConfigError).field;
      }
      return 'no error';
    };
    expect(field({ admission: { boundTo: { kind: 'Pod', name: 'x' } as never } })).toBe(
      'admission.boundTo.kind',
    );
    expect(field({ admission: { boundTo: { kind: 'ValidatingWebhookConfiguration', name: '' } } })).toBe(
      'admission.boundTo.name',
    );
    expect(field({ admission: { respond: 'json' as never } })).toBe('admission.respond');
    expect(field({ admission: { maxBodyBytes: 10 } })).toBe('admission.maxBodyBytes');
    expect(field({ admission: { bound: {} } as never })).toBe('admission.bound');
    expect(field({ env: { APISERVER_TOKEN_ADMISSION: 'maybe' } })).toBe('APISERVER_TOKEN_ADMISSION');
    expect(
      field({ env: { APISERVER_TOKEN_ADMISSION: 'true', APISERVER_TOKEN_ADMISSION_BOUND_TO: 'my-webhook' } }),
    ).toBe('APISERVER_TOKEN_ADMISSION_BOUND_TO.kind');
    const fromEnv = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      env: {
        APISERVER_TOKEN_ADMISSION: 'true',
        APISERVER_TOKEN_ADMISSION_BOUND_TO: 'MutatingWebhookConfiguration/my-webhook',
      },
    });
    expect(fromEnv.admission).toEqual({ respond: 'admission-review', maxBodyBytes: 3 * 1024 * 1024 });
    void fromEnv.close();
  });

  it('the env binding is enforced like the option', async () => {
    const url = await webhook('jwks', {
      admission: undefined,
      env: {
        APISERVER_TOKEN_ADMISSION: 'true',
        APISERVER_TOKEN_ADMISSION_BOUND_TO: 'MutatingWebhookConfiguration/my-webhook',
      },
    });
    expect(await verdict(url, await webhookToken(['*']), deployment('uid-e1'))).toBe(
      'denied 403 attestation_mismatch',
    );
    const mutating = await webhookToken(['*'], {
      webhook: { kind: 'MutatingWebhookConfiguration', name: 'my-webhook' },
    });
    expect(await verdict(url, mutating, deployment('uid-e2'))).toBe('allowed');
  });
});
