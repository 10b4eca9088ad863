/**
 * `apiserver-token audience`, spawned as a process: service and URL webhooks (port, path, trailing
 * slash), YAML with several documents and JSON lists, cross-checked against the audience the
 * testing kit (an independent implementation) puts in a KEP-6060 token.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

const YAML = `# two configurations, one file
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: policy
webhooks:
  - name: default-port.policy.example.com
    clientConfig:
      service: { namespace: my-ns, name: my-webhook, path: /validate }
  - name: other-port.policy.example.com
    clientConfig:
      service: { namespace: my-ns, name: my-webhook, port: 8443, path: /validate/ }
  - name: no-path.policy.example.com
    clientConfig:
      service: { namespace: my-ns, name: bare }
---
apiVersion: v1
kind: Service
metadata: { name: not-a-webhook }
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: defaults
webhooks:
  - name: url.defaults.example.com
    clientConfig:
      url: https://hooks.example.com:8443/mutate/
  - name: url-443.defaults.example.com
    clientConfig:
      url: https://hooks.example.com:443/mutate
  - name: url-no-port.defaults.example.com
    clientConfig:
      url: https://hooks.example.com/mutate?x=1
`;

const LIST = JSON.stringify({
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'from-kubectl' },
      webhooks: [
        { name: 'a.example.com', clientConfig: { service: { namespace: 'ns', name: 'svc', port: 9443 } } },
      ],
    },
  ],
});

let dir: string;
let api: TestApiserver;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-audience-'));
  writeFileSync(join(dir, 'webhooks.yaml'), YAML);
  writeFileSync(join(dir, 'list.json'), LIST);
  writeFileSync(
    join(dir, 'bad.yaml'),
    'kind: ValidatingWebhookConfiguration\nmetadata: {name: bad}\nwebhooks:\n  - name: plain-http\n    clientConfig: {url: "http://hooks.example.com/x"}\n  - name: fine\n    clientConfig: {url: "https://hooks.example.com/x"}\n',
  );
  writeFileSync(join(dir, 'none.yaml'), 'kind: ConfigMap\nmetadata: {name: x}\n');
  writeFileSync(join(dir, 'broken.yaml'), 'kind: [unclosed\n');
  api = await startTestApiserver();
});

afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('apiserver-token audience', () => {
  it('service webhooks (default and other port, path, trailing slash) and URL webhooks', async () => {
    const result = await runCli([
      'audience',
      '-f',
      join(dir, 'webhooks.yaml'),
      join(dir, 'list.json'),
      '-o',
      'json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        kind: 'ValidatingWebhookConfiguration',
        configuration: 'policy',
        webhook: 'default-port.policy.example.com',
        audience: 'https://my-webhook.my-ns.svc:443/validate',
        kubeconfigUser: 'my-webhook.my-ns.svc',
      },
      {
        kind: 'ValidatingWebhookConfiguration',
        configuration: 'policy',
        webhook: 'other-port.policy.example.com',
        audience: 'https://my-webhook.my-ns.svc:8443/validate/',
        kubeconfigUser: 'my-webhook.my-ns.svc:8443',
      },
      {
        kind: 'ValidatingWebhookConfiguration',
        configuration: 'policy',
        webhook: 'no-path.policy.example.com',
        audience: 'https://bare.my-ns.svc:443/',
        kubeconfigUser: 'bare.my-ns.svc',
      },
      {
        kind: 'MutatingWebhookConfiguration',
        configuration: 'defaults',
        webhook: 'url.defaults.example.com',
        audience: 'https://hooks.example.com:8443/mutate/',
        kubeconfigUser: 'hooks.example.com:8443',
      },
      {
        kind: 'MutatingWebhookConfiguration',
        configuration: 'defaults',
        webhook: 'url-443.defaults.example.com',
        // The URL verbatim (no normalisation); the kubeconfig user drops the default port.
        audience: 'https://hooks.example.com:443/mutate',
        kubeconfigUser: 'hooks.example.com',
      },
      {
        kind: 'MutatingWebhookConfiguration',
        configuration: 'defaults',
        webhook: 'url-no-port.defaults.example.com',
        audience: 'https://hooks.example.com/mutate?x=1',
        kubeconfigUser: 'hooks.example.com',
      },
      {
        kind: 'ValidatingWebhookConfiguration',
        configuration: 'from-kubectl',
        webhook: 'a.example.com',
        audience: 'https://svc.ns.svc:9443/',
        kubeconfigUser: 'svc.ns.svc:9443',
      },
    ]);
  });

  it('agrees with the audience the testing kit puts in KEP-6060 tokens', async () => {
    const result = await runCli(['audience', '-f', join(dir, 'webhooks.yaml'), '-o', 'json']);
    const rows = JSON.parse(result.stdout) as Array<{ audience: string; webhook: string }>;
    const services = [
      { namespace: 'my-ns', name: 'my-webhook', path: '/validate' },
      { namespace: 'my-ns', name: 'my-webhook', port: 8443, path: '/validate/' },
      { namespace: 'my-ns', name: 'bare' },
    ];
    for (const [index, service] of services.entries()) {
      const token = await api.mintWebhookToken({
        webhook: { kind: 'ValidatingWebhookConfiguration', name: 'policy' },
        audience: service,
      });
      const aud = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).aud;
      expect([rows[index]!.audience]).toEqual(aud);
    }
  });

  it('prints a table, reads stdin', async () => {
    const result = await runCli(['audience', '-f', '-'], { stdin: LIST });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'CONFIGURATION            WEBHOOK        AUDIENCE                  KUBECONFIG USER\n' +
        'validating/from-kubectl  a.example.com  https://svc.ns.svc:9443/  svc.ns.svc:9443\n',
    );
  });

  it('an invalid clientConfig is reported with the rest, and exits 1', async () => {
    const result = await runCli(['audience', '-f', join(dir, 'bad.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'error: clientConfig: url must be an https URL, got "http://hooks.example.com/x"',
    );
    expect(result.stdout).toMatch(
      /validating\/bad\s+fine\s+https:\/\/hooks\.example\.com\/x\s+hooks\.example\.com/,
    );
  });

  it('a file without webhook configurations, or not YAML, exits 1 and says why', async () => {
    const none = await runCli(['audience', '-f', join(dir, 'none.yaml')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no webhooks found');
    const broken = await runCli(['audience', '-f', join(dir, 'broken.yaml')]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('not YAML or JSON');
    const missing = await runCli(['audience']);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toContain("required option '-f, --file <path...>' not specified");
  });
});
