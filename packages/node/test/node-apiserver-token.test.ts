import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type ApiserverIdentity, ApiserverTokenConfigError, createVerifier } from '@apiserver-token/core';
import { createApiserverTokenGuard, verifyApiserverToken } from '@apiserver-token/node';
import { admissionReview as kitAdmissionReview } from '@apiserver-token/testing';
import connect from 'connect';
import polka from 'polka';
import { afterAll, describe, expect, it } from 'vitest';
import {
  WEBHOOK_AUDIENCE as AUDIENCE,
  admissionReview,
  postJson,
} from '../../../test/helpers/admission-review.js';
import { CALLER, useTestApiserver } from '../../../test/helpers/test-apiserver.js';

const kit = useTestApiserver();
const { mint } = kit;

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function serve(server: Server, closeGuard: () => Promise<void>, scheme = 'http'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await closeGuard();
  });
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The handler every test server ends with: the identity it was handed, and the body it saw. */
function echo(res: ServerResponse, identity: ApiserverIdentity | undefined, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ identity, body }));
}

describe('createApiserverTokenGuard on node:http', () => {
  it('hands back the identity (also on req.apiserver) and answers rejections itself', async () => {
    const guard = createApiserverTokenGuard(kit.options);
    let handled = 0;
    const url = await serve(
      createServer(async (req, res) => {
        const identity = await guard(req, res);
        if (identity === undefined || identity === null) return;
        handled += 1;
        expect(req.apiserver).toBe(identity);
        echo(res, identity, undefined);
      }),
      guard.close,
    );
    const ok = await postJson(url, { authorization: `Bearer ${await mint()}` });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { identity: ApiserverIdentity }).identity.username).toBe(
      `system:serviceaccount:${CALLER.namespace}:${CALLER.serviceAccount}`,
    );

    const forged = await postJson(url, { authorization: `Bearer ${await mint({ tamper: 'signature' })}` });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(forged.headers.get('content-length')).not.toBeNull();
    expect(await forged.json()).toEqual({
      error: 'invalid_signature',
      error_description: 'the bearer token is missing or invalid',
    });
    expect(handled).toBe(1);
  });

  it('serves https.createServer: a KEP-6060 webhook call as kube-apiserver makes it, the review read by the guard', async () => {
    const tls = await kit.api.issueServerCertificate();
    let guard: ReturnType<typeof createApiserverTokenGuard> | undefined;
    const server = createHttpsServer({ cert: tls.cert, key: tls.key }, async (req, res) => {
      const identity = await guard!(req, res);
      if (identity === undefined || identity === null) return;
      // The review the guard read from the request stream, left where a body parser puts it.
      echo(res, identity, (req as IncomingMessage & { body?: unknown }).body);
    });
    const base = await serve(server as unknown as Server, () => guard?.close() ?? Promise.resolve(), 'https');
    const audience = `${base}/validate`;
    guard = createApiserverTokenGuard({ ...kit.options, audience, admission: true });
    const webhook = { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' } as const;
    const review = kitAdmissionReview({
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      namespace: 'demo',
      name: 'web',
    });

    const token = await kit.api.mintWebhookToken({ ...CALLER, webhook, audience, apiGroups: ['apps'] });
    const ok = await kit.api.callWebhook(audience, { token, body: review });
    expect(ok.status).toBe(200);
    const seen = ok.json as { identity: ApiserverIdentity; body: typeof review };
    expect(seen.identity.boundObject).toMatchObject({
      kind: 'ValidatingWebhookConfiguration',
      name: 'my-webhook',
    });
    expect(seen.body).toEqual(review);

    // Attested for another group: denied as an AdmissionReview (HTTP 200), the uid echoed.
    const other = await kit.api.mintWebhookToken({ ...CALLER, webhook, audience, apiGroups: ['batch'] });
    const denied = await kit.api.callWebhook(audience, { token: other, body: review });
    expect(denied.status).toBe(200);
    expect(denied.json).toMatchObject({
      kind: 'AdmissionReview',
      response: { uid: (review.request as { uid: string }).uid, allowed: false, status: { code: 403 } },
    });
  });

  it('answers 413 for a review past admission.maxBodyBytes, without running the handler', async () => {
    const guard = createApiserverTokenGuard({ ...kit.options, admission: { maxBodyBytes: 1024 } });
    let handled = false;
    const url = await serve(
      createServer(async (req, res) => {
        if ((await guard(req, res)) !== undefined) handled = true;
      }),
      guard.close,
    );
    const big = admissionReview('uid-big');
    (big.request.object.metadata as Record<string, unknown>)['annotations'] = { a: 'x'.repeat(4096) };
    const res = await postJson(url, { authorization: `Bearer ${await mint()}` }, big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('admission_review_too_large');
    expect(handled).toBe(false);
  });

  it('drops the connection when the handler already answered, rather than writing a second status', async () => {
    const guard = createApiserverTokenGuard(kit.options);
    const url = await serve(
      createServer(async (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('early ');
        await guard(req, res);
      }),
      guard.close,
    );
    await expect(postJson(url).then((res) => res.text())).rejects.toThrow();
  });

  it('fails at construction on bad options, naming the field', () => {
    expect(() => createApiserverTokenGuard({ ...kit.options, respond: 'xml' as never })).toThrow(
      ApiserverTokenConfigError,
    );
    expect(() => createApiserverTokenGuard({ env: {}, inCluster: false })).toThrow(/audience/);
    expect(() =>
      createApiserverTokenGuard({
        env: { APISERVER_TOKEN_AUDIENCE: AUDIENCE },
        inCluster: false,
        issuer: 'https://a.example',
      }),
    ).not.toThrow();
  });
});

describe('verifyApiserverToken (Connect-style)', () => {
  type Next = (error?: unknown) => void;
  const json = (req: IncomingMessage & { body?: unknown }, _res: ServerResponse, next: Next) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      req.body = text === '' ? undefined : JSON.parse(text);
      next();
    });
  };
  const handler = (req: IncomingMessage & { body?: unknown }, res: ServerResponse) =>
    echo(res, req.apiserver, req.body);

  it('guards a Connect app, and renders AdmissionReview denials from the parsed body', async () => {
    const guard = verifyApiserverToken({ ...kit.options, respond: 'admission-review' });
    const app = connect().use(json).use(guard).use(handler);
    const url = await serve(createServer(app), guard.close);
    const ok = await postJson(url, { authorization: `Bearer ${await mint()}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      identity: { verifiedBy: 'jwks' },
      body: admissionReview('uid-1'),
    });
    const denied = await postJson(url, {}, admissionReview('uid-denied'));
    expect(denied.status).toBe(200);
    expect(await denied.json()).toMatchObject({
      response: { uid: 'uid-denied', allowed: false, status: { code: 401, reason: 'Unauthorized' } },
    });
  });

  it("with errors: 'next', hands the ApiserverTokenError to the stack's error handler", async () => {
    const guard = verifyApiserverToken({ ...kit.options, errors: 'next' });
    const app = connect()
      .use(guard)
      .use(handler)
      .use(
        (
          error: { code?: string; status?: number },
          _req: IncomingMessage,
          res: ServerResponse,
          _next: Next,
        ) => {
          res.writeHead(418).end(`${error.status} ${error.code}`);
        },
      );
    const url = await serve(createServer(app), guard.close);
    const res = await postJson(url, {
      authorization: `Bearer ${await mint({ issuer: 'https://evil.example' })}`,
    });
    expect(res.status).toBe(418);
    expect(await res.text()).toBe('401 unknown_issuer');
    expect(() => verifyApiserverToken({ ...kit.options, errors: 'throw' as never })).toThrow(/errors/);
  });

  it('guards a Polka app, and leaves a shared verifier open', async () => {
    const verifier = createVerifier(kit.options);
    closers.push(() => verifier.close());
    const guard = verifyApiserverToken({ verifier });
    expect(guard.verifier).toBe(verifier);
    const app = polka().use(guard).post('/validate', handler);
    const url = await serve(
      createServer((req, res) => app.handler(req as polka.Request, res)),
      guard.close,
    );
    const ok = await postJson(url, { authorization: `Bearer ${await mint()}` });
    expect(ok.status).toBe(200);
    const missing = await postJson(url);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    await guard.close();
    await expect(
      verifier.verify({ headers: { authorization: `Bearer ${await mint()}` } }),
    ).resolves.toBeDefined();
  });

  it('calls next() in the same tick for a cached identity', async () => {
    const guard = verifyApiserverToken(kit.options);
    closers.push(guard.close);
    const token = await mint();
    const req = {
      headers: { authorization: `Bearer ${token}` },
      rawHeaders: [],
    } as unknown as IncomingMessage;
    await new Promise<void>((resolve, reject) =>
      guard(req, {} as ServerResponse, (error) => (error ? reject(error) : resolve())),
    );
    let called = false;
    const again = { headers: req.headers, rawHeaders: [] } as unknown as IncomingMessage;
    guard(again, {} as ServerResponse, () => {
      called = true;
    });
    expect(called).toBe(true);
    expect(again.apiserver).toBe(req.apiserver);
  });
});
