/**
 * deploy/60-tokenfile-refresher.yaml runs `apiserver-token token-file`. Here the DaemonSet's own
 * arguments run for real against the testing kit's TokenRequest API (HTTPS, own CA, through
 * @kubernetes/client-node), with the kit's kubeconfig standing in for the pod's in-cluster
 * credentials, and the token it writes must get through the webhook.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deploymentReview, sendAdmissionReview } from '../send-review.mjs';
import { startServer } from '../webhook.mjs';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const CLI = fileURLToPath(new URL('../../../packages/cli/dist/cli.js', import.meta.url));

interface Container {
  image: string;
  args: string[];
}

/** The refresher container of the DaemonSet, as Kubernetes would run it. */
function refresherContainer(): Container {
  const text = readFileSync(new URL('../deploy/60-tokenfile-refresher.yaml', import.meta.url), 'utf8');
  const daemonSet = parseAllDocuments(text)
    .map(
      (document) =>
        document.toJS() as { kind?: string; spec?: { template: { spec: { containers: Container[] } } } },
    )
    .find((object) => object.kind === 'DaemonSet');
  return daemonSet!.spec!.template.spec.containers[0]!;
}

let api: TestApiserver;
let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  api = await startTestApiserver();
  api.createObject('ServiceAccount', 'kube-system', 'apiserver-webhook-caller');
  dir = mkdtempSync(join(tmpdir(), 'refresher-'));
});

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('deploy/60-tokenfile-refresher.yaml', () => {
  it('runs apiserver-token token-file, whose token the webhook then accepts', async () => {
    const container = refresherContainer();
    expect(container.image).toMatch(/apiserver-token:/);
    expect(container.args[0]).toBe('token-file');
    expect(container.args).toContain(`--audience=${AUDIENCE}`);
    expect(container.args).toContain('--out=/etc/kubernetes/admission/my-webhook.token');

    const target = join(dir, 'my-webhook.token');
    // The node's path becomes a temporary one; the pod's credentials become the kit's kubeconfig.
    const args = container.args
      .map((arg) => (arg.startsWith('--out=') ? `--out=${target}` : arg))
      .map((arg) => (arg.startsWith('--listen=') ? '--listen=127.0.0.1:0' : arg));
    expect(existsSync(CLI), 'build packages/cli first').toBe(true);
    child = spawn(process.execPath, [CLI, ...args, `--kubeconfig=${api.kubeconfigPath}`], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child!.on('close', resolve));
    const deadline = Date.now() + 40_000;
    while (!output.includes('"event":"renewed"') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(output).toContain('"event":"renewed"');
    expect(statSync(target).mode & 0o777).toBe(0o600);
    // Only the token file is left in the directory: the temporary file was renamed over it.
    expect(readdirSync(dir)).toEqual(['my-webhook.token']);
    expect(api.requests('tokenrequests').map((request) => request.body)).toEqual([
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [AUDIENCE], expirationSeconds: 3600 },
      },
    ]);

    const tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const webhook = await startServer({
      tls,
      host: '127.0.0.1',
      port: 0,
      auth: {
        audience: AUDIENCE,
        issuer: api.issuer,
        jwks: { ca: api.ca },
        inCluster: false,
        env: {},
        policy: { serviceAccounts: ['kube-system:apiserver-webhook-caller'] },
      },
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

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"event":"shutdown"');
  }, 90_000);
});
