/**
 * `apiserver-token token-file`, spawned as a process against the testing kit over HTTPS:
 * --once (fresh files left alone, owner and mode), an outage never touching a good file, the
 * daemon with /healthz, /metrics and SIGTERM, several pairs, giving up, usage errors, and the
 * KEP-6060 binding refused by the kit (a v1.36 apiserver) exactly as the API does.
 */
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collect, runCli, startCli } from './helpers/run-cli.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
let api: TestApiserver;
let dir: string;

beforeAll(async () => {
  api = await startTestApiserver();
  api.createObject('ServiceAccount', 'kube-system', 'apiserver-webhook-caller');
  dir = mkdtempSync(join(tmpdir(), 'cli-token-file-'));
});

afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  api.clearFaults();
  api.resetCalls();
});

const base = () => [
  'token-file',
  '-n',
  'kube-system',
  '--service-account',
  'apiserver-webhook-caller',
  '--kubeconfig',
  api.kubeconfigPath,
];
const logsOf = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));

describe('token-file --once', () => {
  it('writes a 0600 token the apiserver accepts, keeps the owner, leaves a fresh file alone, renews with --force', async () => {
    const out = join(dir, 'once.token');
    writeFileSync(out, 'placeholder from the installer');
    chownSync(out, 4321, 4321);
    const first = await runCli([...base(), '--audience', AUDIENCE, '--out', out, '--once']);
    expect(first.code, first.stderr).toBe(0);
    const token = readFileSync(out, 'utf8');
    expect(api.reviewToken(token, [AUDIENCE]).ok).toBe(true);
    expect(claims(token).exp - claims(token).iat).toBe(3600);
    const stat = statSync(out);
    expect(stat.mode & 0o777).toBe(0o600);
    expect([stat.uid, stat.gid]).toEqual([4321, 4321]);
    const logs = logsOf(first.stderr);
    expect(logs.map((entry) => entry.event)).toEqual(['start', 'replacing', 'renewed', 'exit']);
    expect(logs[2]).toMatchObject({
      level: 'info',
      file: out,
      audience: AUDIENCE,
      fingerprint: expect.any(String),
    });
    expect(first.stderr + first.stdout).not.toContain(token.split('.')[2]);
    expect(api.requests('tokenrequests')[0]!.body).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [AUDIENCE], expirationSeconds: 3600 },
    });

    const again = await runCli([...base(), '--audience', AUDIENCE, '--out', out, '--once']);
    expect(again.code).toBe(0);
    expect(logsOf(again.stderr).map((entry) => entry.event)).toEqual(['start', 'adopted', 'fresh', 'exit']);
    expect(readFileSync(out, 'utf8')).toBe(token);
    expect(api.calls('tokenrequests')).toBe(1);

    const forced = await runCli([
      ...base(),
      '--audience',
      AUDIENCE,
      '--out',
      out,
      '--once',
      '--force',
      '--expiration',
      '10m',
    ]);
    expect(forced.code).toBe(0);
    const renewed = readFileSync(out, 'utf8');
    expect(renewed).not.toBe(token);
    expect(claims(renewed).exp - claims(renewed).iat).toBe(600);
  }, 90_000);

  it('during an outage exits 1 and leaves the good file untouched', async () => {
    const out = join(dir, 'outage.token');
    const good = await api.mintToken({
      audiences: [AUDIENCE],
      expiresIn: 3600,
      issuedAt: Math.floor(Date.now() / 1000) - 3500,
    });
    writeFileSync(out, good, { mode: 0o600 });
    api.setFault('tokenrequests', { status: 503 });
    const result = await runCli([...base(), '--audience', AUDIENCE, '--out', out, '--once']);
    expect(result.code).toBe(1);
    expect(logsOf(result.stderr).find((entry) => entry.event === 'renewal-failed')).toMatchObject({
      status: 503,
      keeping: expect.any(String),
    });
    expect(readFileSync(out, 'utf8')).toBe(good);
  });
});

describe('token-file as a daemon', () => {
  it('serves /healthz and /metrics, keeps two files, and stops cleanly on SIGTERM', async () => {
    const outs = [join(dir, 'a.token'), join(dir, 'b.token')];
    const audiences = [AUDIENCE, 'https://other.example.com:8443/hook/'];
    const child = startCli([
      ...base(),
      ...['--audience', audiences[0]!, '--out', outs[0]!, '--audience', audiences[1]!, '--out', outs[1]!],
      ...['--listen', '127.0.0.1:0'],
    ]);
    const done = collect(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const deadline = Date.now() + 20_000;
    while (logsOf(stderr).filter((entry) => entry.event === 'renewed').length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const port = logsOf(stderr).find((entry) => entry.event === 'listening')?.port;
    expect(port, stderr).toEqual(expect.any(Number));
    for (const [index, out] of outs.entries()) {
      expect(claims(readFileSync(out, 'utf8')).aud).toEqual([audiences[index]]);
    }

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; files: Array<{ file: string }> };
    expect(body.status).toBe('ok');
    expect(body.files.map((file) => file.file)).toEqual(outs);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const exp = claims(readFileSync(outs[0]!, 'utf8')).exp;
    expect(metrics).toContain(
      `apiserver_token_tokenfile_expiry_timestamp_seconds{file="${outs[0]}",audience="${AUDIENCE}"} ${exp}`,
    );
    expect(metrics).toMatch(
      /apiserver_token_tokenfile_renewals_total\{file="[^"]+a\.token",audience="[^"]+",result="success"\} 1/,
    );
    expect(metrics).toContain('apiserver_token_tokenfile_consecutive_failures');
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);

    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    const events = logsOf(result.stderr).map((entry) => entry.event);
    expect(events.slice(-2)).toEqual(['shutdown', 'exit']);
  }, 60_000);

  it('gives up after --max-failures consecutive failures and exits 1, writing nothing', async () => {
    api.setFault('tokenrequests', { down: true });
    const out = join(dir, 'never.token');
    const result = await runCli([
      ...base(),
      ...['--audience', AUDIENCE, '--out', out],
      ...['--max-failures', '3', '--backoff-initial', '50ms', '--backoff-max', '200ms'],
    ]);
    expect(result.code).toBe(1);
    const logs = logsOf(result.stderr);
    expect(logs.filter((entry) => entry.event === 'renewal-failed')).toHaveLength(3);
    expect(logs.at(-1)).toMatchObject({ event: 'exit', reason: 'gave-up' });
    expect(existsSync(out)).toBe(false);
  });

  it('KEP-6060 --bound-to: the kit, like a v1.36 apiserver, refuses the binding; no retry, no file, exit 1', async () => {
    api.createObject('ValidatingWebhookConfiguration', '', 'my-webhook');
    const out = join(dir, 'bound.token');
    const result = await runCli([
      ...base(),
      ...['--audience', AUDIENCE, '--out', out],
      ...['--bound-to', 'ValidatingWebhookConfiguration/my-webhook', '--attest-api-group', 'apps'],
    ]);
    expect(result.code).toBe(1);
    const failed = logsOf(result.stderr).find((entry) => entry.event === 'renewal-failed');
    expect(failed).toMatchObject({ status: 400 });
    expect(failed!.error).toContain('BadRequest: cannot bind token to object of type');
    expect(logsOf(result.stderr).at(-1)).toMatchObject({ event: 'exit', reason: 'refused' });
    expect(api.calls('tokenrequests')).toBe(1);
    expect(existsSync(out)).toBe(false);
    // What a 1.37 apiserver is asked for: one audience, 600 s, the binding and one attested group.
    expect(api.requests('tokenrequests')[0]!.body).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: [AUDIENCE],
        expirationSeconds: 600,
        boundObjectRef: {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingWebhookConfiguration',
          name: 'my-webhook',
        },
        attestations: { admissionReviewAPIGroups: ['apps'] },
      },
    });
  });
});

describe('deploy/systemd', () => {
  it("the unit's ExecStart renews the file (its kubeconfig and path swapped for the kit's and a temporary one)", async () => {
    const unit = readFileSync(
      new URL('../deploy/systemd/apiserver-token-refresh.service', import.meta.url),
      'utf8',
    );
    const execStart = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit)![1]!.replace(/\\\n/g, ' ');
    const [program, ...args] = execStart.split(/\s+/).filter(Boolean);
    expect(program).toBe('/usr/local/bin/apiserver-token');
    expect(args.slice(0, 2)).toEqual(['token-file', '--once']);
    const out = join(dir, 'systemd.token');
    const swapped = args.map((arg, index) =>
      args[index - 1] === '--kubeconfig' ? api.kubeconfigPath : args[index - 1] === '--out' ? out : arg,
    );
    const result = await runCli(swapped);
    expect(result.code, result.stderr).toBe(0);
    expect(claims(readFileSync(out, 'utf8')).aud).toEqual([AUDIENCE]);
    const timer = readFileSync(
      new URL('../deploy/systemd/apiserver-token-refresh.timer', import.meta.url),
      'utf8',
    );
    expect(timer).toMatch(/^OnUnitActiveSec=5min$/m);
  });
});

describe('token-file usage errors (exit 64, nothing asked)', () => {
  it.each([
    [['--audience', AUDIENCE, '--out', 'x', '--expiration', '5m'], 'from 10m'],
    [['--audience', AUDIENCE, '--audience', 'https://b.example', '--out', 'x'], 'one --out per --audience'],
    [
      [
        '--audience',
        AUDIENCE,
        '--out',
        'x',
        '--bound-to',
        'ValidatingWebhookConfiguration/w',
        '--attest-api-group',
        'apps',
        '--expiration',
        '1h',
      ],
      'exactly 600s',
    ],
    [
      ['--audience', AUDIENCE, '--out', 'x', '--bound-to', 'ValidatingWebhookConfiguration/w'],
      'needs --attest-api-group',
    ],
    [
      ['--audience', AUDIENCE, '--out', 'x', '--bound-to', 'ConfigMap/w', '--attest-api-group', 'apps'],
      'expected ValidatingWebhookConfiguration/<name>',
    ],
    [['--audience', AUDIENCE, '--out', 'x', '--listen', 'nope'], 'expected [host:]port'],
    [['--audience', AUDIENCE, '--out', 'x', '--force'], '--force only goes with --once'],
  ])('%j', async (args, message) => {
    const result = await runCli([...base(), ...args]);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain(message);
    expect(api.calls('tokenrequests')).toBe(0);
  });

  it('--help has examples and the exit statuses', async () => {
    const result = await runCli(['token-file', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Examples:\n(.*\n)*\s+\$ apiserver-token token-file/);
    expect(result.stdout).toContain('Exit status:');
  });
});
