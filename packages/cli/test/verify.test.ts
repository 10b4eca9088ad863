/**
 * `apiserver-token verify`, spawned as a process against the testing kit over HTTPS: a genuine
 * token accepted, each forgery refused with its precise code, unavailability as exit 2, the
 * configuration read from APISERVER_TOKEN_*, TokenReview/hybrid modes and the KEP-6060 checks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MintTokenOptions, startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/run-cli.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const CALLER = {
  namespace: 'kube-system',
  serviceAccount: 'apiserver-webhook-caller',
  audiences: [AUDIENCE],
};

let api: TestApiserver;
let dir: string;

beforeAll(async () => {
  // The revocation test below expects a deletion to show at once: without the kit's 10 s success cache.
  api = await startTestApiserver({ tokenReviewCache: false });
  dir = mkdtempSync(join(tmpdir(), 'cli-verify-'));
});

afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The flags a webhook in front of the kit would be configured with. */
const flags = () => ['--audience', AUDIENCE, '--issuer', api.issuer, '--ca-file', api.caPath];
const now = () => Math.floor(Date.now() / 1000);

describe('apiserver-token verify', () => {
  it('accepts a genuine token and prints the identity (exit 0)', async () => {
    const token = await api.mintToken({ ...CALLER, jti: true });
    const result = await runCli(['verify', token, ...flags()]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('accepted');
    expect(result.stdout).toMatch(/username\s+system:serviceaccount:kube-system:apiserver-webhook-caller/);
    expect(result.stdout).toMatch(
      /service account\s+kube-system\/apiserver-webhook-caller \(uid [0-9a-f-]{36}\)/,
    );
    expect(result.stdout).toMatch(/verified by\s+jwks/);
    expect(result.stdout).toMatch(/expires\s+\S+ \(in 59m\d+s\)/);
    expect(result.stdout).not.toContain(token.split('.')[2]);

    const json = await runCli(['verify', token, ...flags(), '-o', 'json']);
    const report = JSON.parse(json.stdout);
    expect(report.verdict).toBe('accepted');
    expect(report.identity.serviceAccount).toMatchObject({
      namespace: 'kube-system',
      name: 'apiserver-webhook-caller',
    });
    expect(report.identity.audiences).toEqual([AUDIENCE]);
  });

  const forgeries: Array<[string, () => Promise<string>]> = [
    ['invalid_signature', () => api.mintToken({ ...CALLER, tamper: 'signature' })],
    ['invalid_signature', () => api.mintToken({ ...CALLER, tamper: 'payload' })],
    [
      'invalid_signature',
      async () => api.mintToken({ ...CALLER, signWith: 'foreign', kid: api.keys()[0]!.kid }),
    ],
    // A kid the issuer never published: no key of that id is tried (v1.36.3: "invalid signature, no keys found").
    ['unknown_key', () => api.mintToken({ ...CALLER, signWith: 'foreign' })],
    ['audience_mismatch', () => api.mintToken({ ...CALLER, audiences: ['https://other-webhook.example'] })],
    ['audience_mismatch', () => api.mintToken({ ...CALLER, audiences: undefined } as MintTokenOptions)],
    ['expired', () => api.mintToken({ ...CALLER, issuedAt: now() - 7200, expiresIn: 3600 })],
    ['not_yet_valid', () => api.mintToken({ ...CALLER, notBefore: now() + 3600 })],
    ['issued_in_future', () => api.mintToken({ ...CALLER, issuedAt: now() + 3600, notBefore: null })],
    ['unknown_issuer', () => api.mintToken({ ...CALLER, issuer: 'https://evil.example' })],
    [
      'algorithm_not_allowed',
      () => api.mintToken({ ...CALLER, header: { jku: 'https://evil.example/jwks' } }),
    ],
    [
      'legacy_token',
      () => api.mintLegacyToken({ namespace: 'kube-system', serviceAccount: 'apiserver-webhook-caller' }),
    ],
    [
      'algorithm_not_allowed',
      async () => {
        const [, payload] = (await api.mintToken(CALLER)).split('.');
        return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
      },
    ],
    ['malformed_token', async () => 'not.a.jwt'],
  ];

  it.concurrent.each(forgeries.map(([code, forge], index) => [`${index}: ${code}`, code, forge] as const))(
    'refuses forgery %s with exit 1 and the precise code',
    async (_name, code, forge) => {
      const token = await forge();
      const result = await runCli(['verify', '-', ...flags(), '-o', 'json'], { stdin: token });
      expect(result.code, result.stdout + result.stderr).toBe(1);
      const report = JSON.parse(result.stdout);
      expect(report.verdict).toBe('rejected');
      expect(report.error.code).toBe(code);
      expect(report.error.status).toBe(401);
      expect(report.error.message).not.toBe('');
    },
  );

  it('says "rejected", the code and the reason in text', async () => {
    const token = await api.mintToken({ ...CALLER, issuedAt: now() - 7200, expiresIn: 3600 });
    const result = await runCli(['verify', token, ...flags()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^rejected: expired \(HTTP 401\)\nreason: .+/);
  });

  it('exit 2 when the keys cannot be fetched (the webhook would answer 503)', async () => {
    const token = await api.mintToken(CALLER);
    api.setFault('*', { status: 503 });
    try {
      const result = await runCli(['verify', token, ...flags(), '-o', 'json']);
      expect(result.code, result.stdout + result.stderr).toBe(2);
      expect(JSON.parse(result.stdout)).toMatchObject({
        verdict: 'unavailable',
        error: { code: 'issuer_unavailable', status: 503 },
      });
    } finally {
      api.clearFaults();
    }
  });

  it('reads the webhook configuration from APISERVER_TOKEN_* (kubectl exec … verify -)', async () => {
    const token = await api.mintToken(CALLER);
    const env = cleanEnv({
      APISERVER_TOKEN_AUDIENCE: AUDIENCE,
      APISERVER_TOKEN_ISSUER: api.issuer,
      APISERVER_TOKEN_CA_FILE: api.caPath,
    });
    const accepted = await runCli(['verify', '-'], { env, stdin: token });
    expect(accepted.code, accepted.stdout + accepted.stderr).toBe(0);
    const other = await runCli(['verify', '-'], {
      env: { ...env, APISERVER_TOKEN_AUDIENCE: 'https://another.example' },
      stdin: token,
    });
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('audience_mismatch');
  });

  it('a configuration error exits 64 and names the field', async () => {
    const token = await api.mintToken(CALLER);
    const result = await runCli(['verify', token, '--issuer', api.issuer]);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('audience');
  });

  it('tokenreview and hybrid modes: TokenReview through the kubeconfig, revocation seen', async () => {
    const token = await api.mintToken({ ...CALLER, namespace: 'revoked-ns' });
    const byReview = await runCli([
      'verify',
      token,
      '--audience',
      AUDIENCE,
      '--mode',
      'tokenreview',
      '--kubeconfig',
      api.kubeconfigPath,
    ]);
    expect(byReview.code, byReview.stdout + byReview.stderr).toBe(0);
    expect(byReview.stdout).toMatch(/verified by\s+tokenreview/);

    api.deleteObject('ServiceAccount', 'revoked-ns', 'apiserver-webhook-caller');
    const rejected = await runCli([
      'verify',
      token,
      '--audience',
      AUDIENCE,
      '--mode',
      'tokenreview',
      '--kubeconfig',
      api.kubeconfigPath,
      '-o',
      'json',
    ]);
    expect(rejected.code).toBe(1);
    expect(JSON.parse(rejected.stdout).error.code).toBe('token_rejected');
    const hybrid = await runCli([
      ...['verify', token, ...flags()],
      '--mode',
      'hybrid',
      '--kubeconfig',
      api.kubeconfigPath,
      '-o',
      'json',
    ]);
    expect(hybrid.code).toBe(1);
    expect(JSON.parse(hybrid.stdout).error.code).toBe('revoked');
  });

  it('with an AdmissionReview: the KEP-6060 attestation and binding checks', async () => {
    const review = (group: string, resource: string) => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u1',
        kind: { group, version: 'v1', kind: 'X' },
        resource: { group, version: 'v1', resource },
        operation: 'CREATE',
        namespace: 'demo',
        object: {},
      },
    });
    writeFileSync(join(dir, 'apps.json'), JSON.stringify(review('apps', 'deployments')));
    writeFileSync(join(dir, 'core.json'), JSON.stringify(review('', 'pods')));
    const token = await api.mintWebhookToken({
      webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
      audience: AUDIENCE,
      apiGroups: ['apps'],
    });
    const apps = await runCli(['verify', token, ...flags(), '--admission-review', join(dir, 'apps.json')]);
    expect(apps.code, apps.stdout + apps.stderr).toBe(0);
    expect(apps.stdout).toMatch(/attestations\s+admissionReviewAPIGroups: apps/);
    expect(apps.stdout).toMatch(/bound to\s+ValidatingWebhookConfiguration my-webhook/);

    const core = await runCli([
      'verify',
      token,
      ...flags(),
      '--admission-review',
      join(dir, 'core.json'),
      '-o',
      'json',
    ]);
    expect(core.code).toBe(1);
    expect(JSON.parse(core.stdout).error).toMatchObject({ code: 'attestation_mismatch', status: 403 });

    const otherBinding = await runCli([
      ...['verify', token, ...flags()],
      ...[
        '--admission-review',
        join(dir, 'apps.json'),
        '--bound-to',
        'ValidatingWebhookConfiguration/another',
        '-o',
        'json',
      ],
    ]);
    expect(otherBinding.code).toBe(1);
    expect(JSON.parse(otherBinding.stdout).error.code).toBe('attestation_mismatch');
  });
});
