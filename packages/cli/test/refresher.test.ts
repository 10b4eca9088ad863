/**
 * The token-file refresher with an injectable clock, against the testing kit over HTTPS through
 * the real @kubernetes/client-node: renewals across several lifetimes, an apiserver outage, a
 * token expiring unrenewed, bad answers never written, and readers in another process never
 * seeing a partial file. The kit runs on the same clock, so its tokens carry the virtual times.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LogEntry, TokenFileRefresher } from '../src/token-file/refresher.js';
import { createTokenRequester } from '../src/token-file/token-request.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const LIFETIME = 600;
const BACKOFF_MAX = 16_000;
let clock = Date.parse('2026-12-01T06:00:00Z');
let api: TestApiserver;
let dir: string;

beforeAll(async () => {
  api = await startTestApiserver({ now: () => clock });
  api.createObject('ServiceAccount', 'kube-system', 'apiserver-webhook-caller');
});

afterAll(async () => {
  await api?.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-refresher-'));
  api.clearFaults();
  api.resetCalls();
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  refresher: TokenFileRefresher;
  logs: LogEntry[];
  sleeps: number[];
  /** The file's content each time the refresher logged something. */
  seen: string[];
  controller: AbortController;
  out: string;
}

/** A refresher on a virtual clock: sleeping advances the clock; `onTick` may change the world. */
function harness(
  options: { maxFailures?: number; onTick?: (h: Harness) => void; out?: string } = {},
): Harness {
  const out = options.out ?? join(dir, 'webhook.token');
  const h = { logs: [], sleeps: [], seen: [], controller: new AbortController(), out } as unknown as Harness;
  h.refresher = new TokenFileRefresher({
    namespace: 'kube-system',
    serviceAccount: 'apiserver-webhook-caller',
    targets: [{ audience: AUDIENCE, out }],
    expirationSeconds: LIFETIME,
    requestToken: createTokenRequester({ kubeconfig: api.kubeconfigPath, timeoutMs: 5000 }),
    maxFailures: options.maxFailures ?? 0,
    backoff: { initialMs: 1000, maxMs: BACKOFF_MAX },
    now: () => clock,
    sleep: async (ms) => {
      h.sleeps.push(ms);
      clock += ms;
      options.onTick?.(h);
      await new Promise((resolve) => setImmediate(resolve));
    },
    log: (entry) => {
      h.logs.push(entry);
      try {
        h.seen.push(readFileSync(out, 'utf8'));
      } catch {
        h.seen.push('<absent>');
      }
    },
  });
  return h;
}

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
const events = (h: Harness, event: string) => h.logs.filter((entry) => entry.event === event);
const accepted = (token: string) => api.reviewToken(token, [AUDIENCE]).ok;

describe('TokenFileRefresher', () => {
  it('renews at 70–80 % of each lifetime, over several lifetimes, with tokens the apiserver accepts', async () => {
    const start = clock;
    const h = harness({
      onTick: (self) => {
        if (clock > start + 5 * LIFETIME * 1000) self.controller.abort();
      },
    });
    const outcome = await h.refresher.run(h.controller.signal);
    expect(outcome).toEqual({ result: 'stopped' });
    const renewed = events(h, 'renewed');
    expect(renewed.length).toBeGreaterThanOrEqual(6);
    expect(renewed.length).toBeLessThanOrEqual(8);
    const tokens = h.seen.filter((_, index) => h.logs[index]!.event === 'renewed');
    expect(new Set(tokens).size).toBe(tokens.length);
    for (const [index, token] of tokens.entries()) {
      expect(accepted(token) || clock / 1000 > claims(token).exp).toBe(true);
      expect(claims(token).aud).toEqual([AUDIENCE]);
      expect(claims(token).exp - claims(token).iat).toBe(LIFETIME);
      if (index > 0) {
        // Renewed between 70 % and 80 % of the previous token's lifetime.
        const previous = claims(tokens[index - 1]!);
        const fraction = (claims(token).iat - previous.iat) / LIFETIME;
        expect(fraction).toBeGreaterThanOrEqual(0.7 - 0.01);
        expect(fraction).toBeLessThanOrEqual(0.8 + 0.01);
      }
    }
    expect(accepted(readFileSync(h.out, 'utf8'))).toBe(true);
    expect(statSync(h.out).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(h.logs)).not.toContain(tokens[0]!.split('.')[2]);
    expect(api.calls('tokenrequests')).toBe(renewed.length);
  });

  it('survives an apiserver outage: retries with growing, jittered delays, keeps the good token, never writes a bad file', async () => {
    // One failure of each kind in turn, then the apiserver is back.
    const faults = [
      { status: 503 },
      { down: true },
      { malformed: true },
      { reset: true },
      { status: 429, retryAfter: 1 },
      { status: 500 },
    ];
    let set = 0;
    const h = harness({
      onTick: (self) => {
        const failed = events(self, 'renewal-failed').length;
        if (events(self, 'renewed').length === 1 && set === failed && set < faults.length) {
          api.setFault('tokenrequests', { ...faults[set]!, times: 1 });
          set += 1;
        }
        if (events(self, 'renewed').length >= 2) self.controller.abort();
      },
    });
    const outcome = await h.refresher.run(h.controller.signal);
    expect(outcome).toEqual({ result: 'stopped' });
    const failures = events(h, 'renewal-failed');
    expect(failures.map((entry) => entry.error)).toEqual([
      expect.stringContaining('answered 503'),
      expect.stringContaining('socket hang up'),
      expect.stringMatching(/JSON/),
      expect.stringMatching(/timed out|terminated|aborted|hang up/),
      expect.stringContaining('answered 429'),
      expect.stringContaining('answered 500'),
    ]);
    const [first, second] = events(h, 'renewed');
    // Every failure kept the first token, which stayed valid: the file held it throughout.
    const firstToken = h.seen[h.logs.indexOf(first!)]!;
    for (const entry of failures) {
      expect(entry.keeping).toBe(first!.fingerprint);
      expect(h.seen[h.logs.indexOf(entry)]).toBe(firstToken);
    }
    expect(h.seen.every((content) => content === '<absent>' || content.split('.').length === 3)).toBe(true);
    // Exponential backoff with jitter: each retry delay within [half, all] of 1 s × 2^(n-1), capped.
    const retries = events(h, 'retrying').map((entry) => entry.inMs as number);
    expect(retries).toHaveLength(faults.length);
    retries.forEach((delay, index) => {
      const base = Math.min(BACKOFF_MAX, 1000 * 2 ** index);
      expect(delay).toBeGreaterThanOrEqual(Math.floor(base / 2));
      expect(delay).toBeLessThanOrEqual(Math.ceil(base));
    });
    expect(
      new Set(retries.map((delay, index) => delay / Math.min(BACKOFF_MAX, 1000 * 2 ** index))).size,
    ).toBeGreaterThan(1);
    expect(h.refresher.status()[0]).toMatchObject({
      consecutiveFailures: 0,
      failures: faults.length,
      renewals: 2,
    });
    expect(accepted(h.seen[h.logs.indexOf(second!)]!)).toBe(true);
  });

  it('ends with expired-unrenewed when the held token runs out, leaving the last good token in place', async () => {
    const h = harness({
      onTick: (self) => {
        if (events(self, 'renewed').length === 1) api.setFault('tokenrequests', { status: 503 });
      },
    });
    const outcome = await h.refresher.run(h.controller.signal);
    expect(outcome).toMatchObject({ result: 'failed', reason: 'expired-unrenewed' });
    const token = readFileSync(h.out, 'utf8');
    expect(claims(token).exp * 1000).toBeLessThanOrEqual(clock);
    expect(events(h, 'expired-unrenewed')).toHaveLength(1);
    expect(h.refresher.healthy()).toBe(false);
  });

  it('gives up after maxFailures consecutive failures', async () => {
    api.setFault('tokenrequests', { down: true });
    const h = harness({ maxFailures: 3 });
    const outcome = await h.refresher.run(h.controller.signal);
    expect(outcome).toMatchObject({ result: 'failed', reason: 'gave-up' });
    expect(events(h, 'renewal-failed')).toHaveLength(3);
    expect(h.seen.every((content) => content === '<absent>')).toBe(true);
  });

  it('adopts a valid token already in the file instead of asking again', async () => {
    const out = join(dir, 'held.token');
    const token = await api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'apiserver-webhook-caller',
      audiences: [AUDIENCE],
      expiresIn: LIFETIME,
    });
    writeFileSync(out, `${token}\n`, { mode: 0o600 });
    const h = harness({ out });
    const outcome = await h.refresher.once();
    expect(outcome).toEqual({ result: 'done' });
    expect(events(h, 'adopted')).toHaveLength(1);
    expect(events(h, 'fresh')).toHaveLength(1);
    expect(api.calls('tokenrequests')).toBe(0);
  });
});

describe('answers that must never reach the file', () => {
  let server: Server;
  let answer: () => Promise<{ status: number; body: unknown }>;
  let kubeconfig: string;

  beforeAll(async () => {
    const tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    server = createServer({ cert: tls.cert, key: tls.key }, async (req, res) => {
      req.resume();
      const { status, body } = await answer();
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kubeconfig = join(mkdtempSync(join(tmpdir(), 'cli-standin-')), 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'c',
            cluster: {
              server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
              'certificate-authority-data': Buffer.from(tls.ca).toString('base64'),
            },
          },
        ],
        users: [{ name: 'u', user: { token: 'refresher-credential' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const status = (token: string) => ({
    status: 201,
    body: {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      status: { token, expirationTimestamp: new Date(clock + 600_000).toISOString() },
    },
  });

  it.each([
    ['an empty token', async () => status(''), 'empty token'],
    ['a token that is not a JWT', async () => status('garbage'), 'three dot-separated parts'],
    [
      'a token for another audience',
      async () => status(await api.mintToken({ audiences: ['https://other.example'] })),
      'lack https://my-webhook',
    ],
    [
      'an expired token',
      async () =>
        status(await api.mintToken({ audiences: [AUDIENCE], issuedAt: clock / 1000 - 7200, expiresIn: 600 })),
      'already expired',
    ],
    ['a 201 without status', async () => ({ status: 201, body: { kind: 'TokenRequest' } }), 'empty token'],
  ])('%s keeps the previous file', async (_name, make, message) => {
    const out = join(dir, 'kept.token');
    const good = await api.mintToken({ audiences: [AUDIENCE], expiresIn: LIFETIME });
    writeFileSync(out, good, { mode: 0o600 });
    answer = make;
    const logs: LogEntry[] = [];
    const refresher = new TokenFileRefresher({
      namespace: 'kube-system',
      serviceAccount: 'apiserver-webhook-caller',
      targets: [{ audience: AUDIENCE, out }],
      expirationSeconds: LIFETIME,
      requestToken: createTokenRequester({ kubeconfig, timeoutMs: 5000 }),
      maxFailures: 0,
      backoff: { initialMs: 1000, maxMs: 1000 },
      now: () => clock,
      log: (entry) => logs.push(entry),
    });
    const outcome = await refresher.once(true);
    expect(outcome).toMatchObject({ result: 'failed', reason: 'once-failed' });
    expect(logs.find((entry) => entry.event === 'renewal-failed')?.error).toContain(message);
    expect(readFileSync(out, 'utf8')).toBe(good);
  });
});

describe('readers in another process', () => {
  it('never see a partial or empty file while it is rewritten again and again', async () => {
    const out = join(dir, 'busy.token');
    const stop = join(dir, 'stop');
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs');
         let reads = 0, bad = 0, missing = 0; const seen = new Set();
         while (!fs.existsSync(${JSON.stringify(stop)})) {
           let text;
           try { text = fs.readFileSync(${JSON.stringify(out)}, 'utf8'); } catch { missing++; continue; }
           reads++;
           const parts = text.split('.');
           try { if (parts.length !== 3 || parts[2] === '') throw 0; JSON.parse(Buffer.from(parts[1], 'base64url')); seen.add(text); }
           catch { bad++; }
         }
         process.stdout.write(JSON.stringify({ reads, bad, missing, distinct: seen.size }));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    reader.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise((resolve) => reader.on('close', resolve));
    const h = harness({
      out,
      onTick: (self) => {
        if (events(self, 'renewed').length >= 60) self.controller.abort();
      },
    });
    await h.refresher.run(h.controller.signal);
    writeFileSync(stop, '');
    await exited;
    const result = JSON.parse(output) as { reads: number; bad: number; distinct: number };
    expect(result.bad).toBe(0);
    expect(result.reads).toBeGreaterThan(100);
    expect(result.distinct).toBeGreaterThan(10);
  });
});
