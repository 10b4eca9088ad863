/**
 * deploy/60-tokenfile-refresher.yaml runs an inline script. Here it runs for real against a
 * stand-in for the Kubernetes TokenRequest endpoint (HTTPS, own CA, tokens minted by the kit),
 * and the token it writes must get through the webhook.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentReview, sendAdmissionReview } from '../send-review.mjs';
import { startServer } from '../webhook.mjs';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const TOKEN_PATH = '/api/v1/namespaces/kube-system/serviceaccounts/apiserver-webhook-caller/token';

/** The `args[0]` script of the DaemonSet, de-indented, exactly as the container runs it. */
function refresherScript(): { script: string; env: Record<string, string> } {
  const yaml = readFileSync(new URL('../deploy/60-tokenfile-refresher.yaml', import.meta.url), 'utf8').split(
    '\n',
  );
  const start = yaml.findIndex((line) => line.trim() === '- |') + 1;
  const indent = yaml[start]!.length - yaml[start]!.trimStart().length;
  const body: string[] = [];
  for (const line of yaml.slice(start)) {
    if (line.trim() !== '' && line.length - line.trimStart().length < indent) break;
    body.push(line.slice(indent));
  }
  const env: Record<string, string> = {};
  const text = yaml.join('\n');
  for (const match of text.matchAll(/- name: (AUDIENCE|TARGET)\n\s+value: (\S+)/g))
    env[match[1]!] = match[2]!;
  return { script: body.join('\n'), env };
}

let api: TestApiserver;
let dir: string;
let tokenRequests: Array<{ authorization: string | undefined; body: unknown }> = [];
let server: Server;
let child: ChildProcess | undefined;
const podToken = 'the-refresher-pod-own-token';

beforeAll(async () => {
  api = await startTestApiserver();
  dir = mkdtempSync(join(tmpdir(), 'refresher-'));
  const tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.crt'), tls.ca);
  writeFileSync(join(dir, 'sa-token'), podToken);
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      tokenRequests.push({ authorization: req.headers.authorization, body });
      if (
        req.method !== 'POST' ||
        req.url !== TOKEN_PATH ||
        req.headers.authorization !== `Bearer ${podToken}`
      ) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","code":403}');
        return;
      }
      const { audiences, expirationSeconds } = body.spec;
      const token = await api.mintToken({
        namespace: 'kube-system',
        serviceAccount: 'apiserver-webhook-caller',
        audiences,
        expiresIn: expirationSeconds,
      });
      const expires = new Date(Date.now() + expirationSeconds * 1000).toISOString();
      res
        .writeHead(201, { 'content-type': 'application/json' })
        .end(JSON.stringify({ kind: 'TokenRequest', status: { token, expirationTimestamp: expires } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
  await new Promise((resolve) => server.close(resolve));
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('deploy/60-tokenfile-refresher.yaml', () => {
  it('writes a token for the webhook audience that the webhook then accepts', async () => {
    tokenRequests = [];
    const { script, env } = refresherScript();
    expect(env).toEqual({ AUDIENCE, TARGET: '/etc/kubernetes/admission/my-webhook.token' });
    const target = join(dir, 'my-webhook.token');
    child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH ?? '',
        AUDIENCE: env.AUDIENCE!,
        TARGET: target,
        SA_TOKEN_FILE: join(dir, 'sa-token'),
        NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'),
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: String((server.address() as AddressInfo).port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 15_000;
    // The script logs after the rename: wait for both, the log line may arrive a little later.
    while (!(existsSync(target) && output.includes('"event":"refreshed"')) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(target), output).toBe(true);
    expect(existsSync(`${target}.tmp`)).toBe(false);
    expect(output).toContain('"event":"refreshed"');

    expect(tokenRequests).toEqual([
      {
        authorization: `Bearer ${podToken}`,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [AUDIENCE], expirationSeconds: 3600 },
        },
      },
    ]);

    const tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const webhook = await startServer({
      tls,
      host: '127.0.0.1',
      port: 0,
      auth: { audience: AUDIENCE, issuer: api.issuer, jwks: { ca: api.ca }, inCluster: false, env: {} },
      allowedCallers: ['kube-system:apiserver-webhook-caller'],
      log: () => {},
    });
    try {
      const res = await sendAdmissionReview({
        url: `${webhook.url}/validate`,
        ca: tls.ca,
        token: readFileSync(target, 'utf8'),
        review: deploymentReview({ uid: 'from-refreshed-file', labels: { team: 'web' } }),
      });
      expect(res.body.response).toEqual({ uid: 'from-refreshed-file', allowed: true });
    } finally {
      await webhook.close();
    }
  });
});
