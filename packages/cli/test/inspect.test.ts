/**
 * `apiserver-token inspect`, spawned as a process, on the tokens recorded from real
 * kube-apiservers (v1.28.4 and v1.36.3) and on KEP-6060 tokens minted by the testing kit.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestApiserver } from '@apiserver-token/testing';
import { describe, expect, it } from 'vitest';
import { CLI, cleanEnv, runCli } from './helpers/run-cli.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

interface Recorded {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

function recordedTokens(
  version: string,
): Array<{ name: string; path: string; token: string; decoded: Recorded }> {
  const dir = join(FIXTURES, `kube-apiserver-${version}`, 'tokens');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.jwt') && readdirSync(dir).includes(file.replace(/\.jwt$/, '.json')))
    .map((file) => ({
      name: file.replace(/\.jwt$/, ''),
      path: join(dir, file),
      token: readFileSync(join(dir, file), 'utf8').trim(),
      decoded: JSON.parse(readFileSync(join(dir, file.replace(/\.jwt$/, '.json')), 'utf8')) as Recorded,
    }));
}

const signatureOf = (token: string) => token.split('.')[2]!;

describe.each(['v1.28.4', 'v1.36.3'])('inspect on the tokens of a real kube-apiserver %s', (version) => {
  const tokens = recordedTokens(version);

  it('has recordings to read', () => {
    expect(tokens.length).toBeGreaterThanOrEqual(7);
  });

  it.each(tokens.map((token) => [token.name, token] as const))(
    '%s: claims as recorded, never the signature',
    async (_name, token) => {
      const result = await runCli(['inspect', '--file', token.path, '--output', 'json']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('NOT VERIFIED');
      const report = JSON.parse(result.stdout);
      expect(report.verified).toBe(false);
      expect(report.claims).toEqual(token.decoded.claims);
      expect(report.algorithm).toBe(token.decoded.header.alg);
      expect(report.keyId).toBe(token.decoded.header.kid);
      expect(report.issuer).toBe(token.decoded.claims.iss);
      expect(report.subject).toBe(token.decoded.claims.sub);
      expect(`${result.stdout}${result.stderr}`).not.toContain(signatureOf(token.token));
    },
  );
});

describe('inspect: what the operator needs to read', () => {
  const v136 = join(FIXTURES, 'kube-apiserver-v1.36.3', 'tokens');
  const v128 = join(FIXTURES, 'kube-apiserver-v1.28.4', 'tokens');

  it('pod-bound token of v1.36.3: pod, node, jti, absolute and relative times', async () => {
    const claims = JSON.parse(readFileSync(join(v136, 'pod-on-node.json'), 'utf8')).claims;
    // 7m12s before expiry.
    const at = new Date((claims.exp - 432) * 1000).toISOString();
    const result = await runCli(['inspect', '--file', join(v136, 'pod-on-node.jwt'), '--at', at]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /service account\s+demo\/webhook-client \(uid f9a0ba19-bceb-4126-b810-90e7a590be2c\)/,
    );
    expect(result.stdout).toMatch(
      /bound to\s+Pod demo\/node-pod \(uid ae291489-c2cd-41fb-8373-fe823058cd95\)/,
    );
    expect(result.stdout).toMatch(/node\s+node-1 \(uid 5dd34568-aab0-4119-ae3d-a41e8d94a573\)/);
    expect(result.stdout).toMatch(/jti\s+6fcdf27e-d44e-4fdd-b94c-2edadd32d281/);
    expect(result.stdout).toMatch(/expires\s+2026-12-01T05:20:56Z \(in 7m12s\)/);
    expect(result.stdout).toMatch(/issued at\s+2026-12-01T04:20:56Z \(52m48s ago\)/);
    expect(result.stdout).toMatch(/lifetime\s+1h/);
    expect(result.stdout).not.toContain('warnings:');
  });

  it('expired: "expired 3h ago" as a warning', async () => {
    const claims = JSON.parse(readFileSync(join(v136, 'token.json'), 'utf8')).claims;
    const result = await runCli([
      'inspect',
      '--file',
      join(v136, 'token.jwt'),
      '--at',
      String(claims.exp + 3 * 3600),
      '-o',
      'json',
    ]);
    const report = JSON.parse(result.stdout);
    expect(report.warnings).toContainEqual({ code: 'expired', message: 'expired 3h ago' });
    expect(report.expiresAt.relative).toBe('3h ago');
  });

  it('kubelet-style token: warnafter, a year of lifetime, the apiserver audience', async () => {
    const claims = JSON.parse(readFileSync(join(v136, 'pod-bound-kubelet-style-3607s.json'), 'utf8')).claims;
    const result = await runCli([
      'inspect',
      '--file',
      join(v136, 'pod-bound-kubelet-style-3607s.jwt'),
      '--at',
      String(claims.iat + 4000),
      '-o',
      'json',
    ]);
    const report = JSON.parse(result.stdout);
    expect(report.warnAfter.epoch).toBe(claims['kubernetes.io'].warnafter);
    const codes = report.warnings.map((warning: { code: string }) => warning.code);
    expect(codes).toEqual(expect.arrayContaining(['long_lifetime', 'apiserver_audience', 'stale']));
  });

  it('legacy secret token: said so, with its Secret', async () => {
    const result = await runCli(['inspect', '--file', join(v128, 'legacy.jwt')]);
    expect(result.stdout).toMatch(/bound to\s+Secret demo\/webhook-client-legacy/);
    expect(result.stdout).toContain('legacy Secret-based token (Secret webhook-client-legacy)');
    expect(result.stdout).toContain('[legacy_token]');
  });

  it('two audiences and 48 h: both audiences, a lifetime warning', async () => {
    const result = await runCli(['inspect', '--file', join(v128, 'token-48h-2aud.jwt'), '-o', 'json']);
    const report = JSON.parse(result.stdout);
    expect(report.audiences).toEqual(['a', 'b']);
    expect(report.lifetimeSeconds).toBe(48 * 3600);
    expect(report.warnings.map((warning: { code: string }) => warning.code)).toContain('long_lifetime');
  });

  it('KEP-6060 webhook token minted by the kit: webhook configuration binding and attestations', async () => {
    const api = await startTestApiserver();
    try {
      const token = await api.mintWebhookToken({
        webhook: { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' },
        audience: { namespace: 'my-ns', name: 'my-webhook', path: '/validate' },
        apiGroups: ['apps'],
        jti: true,
      });
      const result = await runCli(['inspect', '-'], { stdin: `Bearer ${token}\n` });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(
        /bound to\s+ValidatingWebhookConfiguration my-webhook \(uid [0-9a-f-]{36}\)/,
      );
      expect(result.stdout).toMatch(/attestations\s+admissionReviewAPIGroups: apps/);
      expect(result.stdout).toMatch(/audiences\s+https:\/\/my-webhook\.my-ns\.svc:443\/validate/);
      expect(result.stdout).toMatch(/lifetime\s+10m/);
      expect(result.stdout).not.toContain(signatureOf(token));
    } finally {
      await api.close();
    }
  });

  it('refuses what is not a JWT with exit 1, and a missing token with 64', async () => {
    const garbage = await runCli(['inspect', 'not-a-token']);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('not a decodable JWT: a JWT has three dot-separated parts, this has 1');
    const badPayload = await runCli(['inspect', 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln']);
    expect(badPayload.code).toBe(1);
    expect(badPayload.stderr).toContain('the payload is not JSON');
    const empty = await runCli(['inspect', '-'], { stdin: '' });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('the token is empty');
    const unknown = await runCli(['inspect', '--nope']);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain("unknown option '--nope'");
  });
});

describe('the command itself', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it.each(['inspect', 'verify', 'audience'])(
    '%s --help has examples and the exit statuses',
    async (command) => {
      const result = await runCli([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: apiserver-token ${command}`);
      expect(result.stdout).toMatch(new RegExp(`Examples:\\n\\s+\\$ .*apiserver-token ${command}`));
      expect(result.stdout).toContain('Exit status:');
    },
  );

  it('no colour when the output is not a terminal, even when asked to force it, nor with NO_COLOR', async () => {
    const token = readFileSync(join(FIXTURES, 'kube-apiserver-v1.28.4', 'tokens', 'legacy.jwt'), 'utf8');
    for (const env of [
      cleanEnv(),
      cleanEnv({ FORCE_COLOR: '1' }),
      cleanEnv({ NO_COLOR: '1', FORCE_COLOR: '1' }),
    ]) {
      const result = await runCli(['inspect', token], { env });
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain('\u001b[');
    }
  });

  // A real terminal through script(1), where the system has it.
  it.skipIf(!existsSync('/usr/bin/script'))(
    'colour on a terminal, unless NO_COLOR or --no-color',
    () => {
      const token = readFileSync(
        join(FIXTURES, 'kube-apiserver-v1.28.4', 'tokens', 'legacy.jwt'),
        'utf8',
      ).trim();
      const onTty = (env: NodeJS.ProcessEnv, extra = '') =>
        execFileSync(
          '/usr/bin/script',
          ['-qec', `${process.execPath} ${CLI} inspect ${extra} ${token}`, '/dev/null'],
          {
            env: { ...env, TERM: 'xterm-256color' },
            encoding: 'utf8',
            timeout: 20_000,
          },
        );
      expect(onTty(cleanEnv())).toContain('\u001b[1m');
      expect(onTty(cleanEnv({ NO_COLOR: '1' }))).not.toContain('\u001b[');
      expect(onTty(cleanEnv(), '--no-color')).not.toContain('\u001b[');
    },
    60_000,
  );
});
