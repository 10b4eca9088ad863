import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiserverTokenError } from '@apiserver-token/core';
import { verifyApiserverToken } from '@apiserver-token/hono';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { afterAll, describe, expect, it } from 'vitest';
import { admissionReview, postJson } from '../../../test/helpers/admission-review.js';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';

const kit = useTestApiserver();
const { mint } = kit;

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function serve(fetch: Hono['fetch'], closeGuard: () => Promise<void>): Promise<string> {
  const server = createAdaptorServer({ fetch }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await closeGuard();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('verifyApiserverToken on Hono (@hono/node-server)', () => {
  it('admission mode: the review read by the middleware is what c.req.json() answers', async () => {
    const guard = verifyApiserverToken({ ...kit.options, admission: true });
    const app = new Hono();
    app.post('/validate', guard, async (c) => {
      const review = (await c.req.json()) as { request: { uid: string } };
      return c.json({ uid: review.request.uid, caller: c.var.apiserver.username });
    });
    const url = await serve(app.fetch, guard.close);
    const token = await kit.api.mintWebhookToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      audience: kit.options.audience as string,
      apiGroups: ['apps'],
    });
    const res = await postJson(url, { authorization: `Bearer ${token}` }, admissionReview('uid-hono'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      uid: 'uid-hono',
      caller: 'system:serviceaccount:kube-system:webhook-auth',
    });
  });

  it("errors: 'throw' raises an HTTPException carrying the rendered answer and the ApiserverTokenError", async () => {
    const guard = verifyApiserverToken({ ...kit.options, errors: 'throw' });
    const seen: string[] = [];
    const app = new Hono();
    app.use('/validate', guard);
    app.post('/validate', (c) => c.text('ok'));
    app.onError((error, c) => {
      if (error instanceof HTTPException) {
        seen.push((error.cause as ApiserverTokenError).code);
        return error.getResponse();
      }
      return c.text('unexpected', 500);
    });
    const url = await serve(app.fetch, guard.close);
    const res = await postJson(url, { authorization: `Bearer ${await mint({ tamper: 'payload' })}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
    expect(await res.json()).toMatchObject({ error: 'invalid_signature' });
    expect(seen).toEqual(['invalid_signature']);
    const ok = await postJson(url, { authorization: `Bearer ${await mint()}` });
    expect(await ok.text()).toBe('ok');
  });

  it('refuses bad options at construction', () => {
    expect(() => verifyApiserverToken({ ...kit.options, errors: 'next' as never })).toThrow(/errors/);
    expect(() => verifyApiserverToken({ env: {}, inCluster: false })).toThrow(/audience/);
  });

  it('works from Fetch headers alone (no Node request): app.request()', async () => {
    const guard = verifyApiserverToken(kit.options);
    closers.push(guard.close);
    const app = new Hono().post('/validate', guard, (c) =>
      c.json({ ns: c.var.apiserver.serviceAccount?.namespace }),
    );
    const ok = await app.request('/validate', {
      method: 'POST',
      headers: { authorization: `Bearer ${await mint()}` },
    });
    expect(await ok.json()).toEqual({ ns: 'kube-system' });
    const missing = await app.request('/validate', { method: 'POST' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
  });
});
