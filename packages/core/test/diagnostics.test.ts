import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Diagnostics } from '../src/diagnostics/diagnostics.js';
import { type ApiserverTokenVerifier, createVerifier, type VerifierOptions } from '../src/index.js';
import { clientNodeIncompatibility } from '../src/tokenreview/client-node.js';
import { recordingLogger } from './helpers/logger.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const EC_KEY = {
  kty: 'EC',
  kid: 'ok',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
};
const kits: TestApiserver[] = [];
const verifiers: ApiserverTokenVerifier[] = [];
const warnings: Array<Error & { code?: string; detail?: string }> = [];
const onWarning = (warning: Error) => warnings.push(warning);
process.on('warning', onWarning);
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
  await Promise.all(kits.splice(0).map((kit) => kit.close()));
  warnings.length = 0;
});

async function kit() {
  const api = await startTestApiserver();
  kits.push(api);
  return api;
}
function verifier(options: VerifierOptions): ApiserverTokenVerifier {
  const v = createVerifier({ audience: AUDIENCE, env: {}, inCluster: false, ...options });
  verifiers.push(v);
  return v;
}
/** process.emitWarning is delivered on the next tick. */
const settle = () => new Promise((resolve) => setImmediate(resolve));
const ours = (code: string) => warnings.filter((warning) => warning.code === code);

/** Sends `count` requests with the token; none of the reports may hold it. */
async function hammer(v: ApiserverTokenVerifier, token: string, count = 5) {
  for (let i = 0; i < count; i++) {
    await v.verify({ headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
  }
  await settle();
  for (const warning of warnings) expect(`${warning.message} ${warning.detail}`).not.toContain(token);
}

describe('diagnostics by default: once per condition and cause, with the fix, never a token', () => {
  it('a forgotten CA says to set jwks.ca / APISERVER_TOKEN_CA_FILE', async () => {
    const api = await kit();
    const v = verifier({ issuer: api.issuer, jwks: { cooldown: 0 } });
    await hammer(v, await api.mintToken({ audiences: [AUDIENCE] }));
    const reports = ours('APISERVER_TOKEN_KEYS_UNAVAILABLE');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.name).toBe('ApiserverTokenWarning');
    expect(reports[0]?.message).toContain(api.issuer);
    expect(reports[0]?.detail).toContain('jwks.ca');
    expect(reports[0]?.detail).toContain('APISERVER_TOKEN_CA_FILE');
  });

  it('a wrong issuer names the issuer the discovery document gives', async () => {
    const api = await kit();
    const v = verifier({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      jwks: { ca: api.ca, discovery: api.url },
    });
    await hammer(
      v,
      await api.mintToken({ audiences: [AUDIENCE], issuer: 'https://kubernetes.default.svc.cluster.local' }),
    );
    const reports = ours('APISERVER_TOKEN_ISSUER_MISMATCH');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.message).toContain(api.issuer);
    expect(reports[0]?.detail).toContain('--service-account-issuer');
  });

  it('a reviewer without permission says to bind system:auth-delegator', async () => {
    const api = await kit();
    const user = await api.addUser({ name: 'no-review' });
    const v = verifier({ mode: 'tokenreview', kubeconfig: user.kubeconfigPath });
    await hammer(v, await api.mintToken({ audiences: [AUDIENCE] }));
    const reports = ours('APISERVER_TOKEN_TOKENREVIEW');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.message).toContain('403');
    expect(reports[0]?.detail).toContain('system:auth-delegator');
  });

  it('with a logger, reports go to it (with code, cause and fix) and per-request rejections too', async () => {
    const api = await kit();
    const logger = recordingLogger();
    const v = verifier({ issuer: api.issuer, logger });
    const token = await api.mintToken({ audiences: [AUDIENCE] });
    await hammer(v, token, 3);
    expect(ours('APISERVER_TOKEN_KEYS_UNAVAILABLE')).toHaveLength(0);
    const reports = logger.calls.filter((call) => call.object.code === 'APISERVER_TOKEN_KEYS_UNAVAILABLE');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ level: 'error', object: { cause: 'untrusted-certificate' } });
    const rejections = logger.calls.filter((call) => call.object.code === 'issuer_unavailable');
    expect(rejections).toHaveLength(3);
    expect(rejections[0]?.object.fingerprint).toMatch(/^[\w-]{6,}$/);
    expect(JSON.stringify(logger.calls)).not.toContain(token);
  });

  it('diagnosticsLogger takes the reports (skipped keys included) while `logger` keeps the verdicts', async () => {
    const api = await kit();
    const logger = recordingLogger();
    const diagnosticsLogger = recordingLogger();
    const v = verifier({ issuer: api.issuer, logger, diagnosticsLogger });
    const token = await api.mintToken({ audiences: [AUDIENCE] });
    await hammer(v, token, 3);
    expect(warnings.filter((warning) => warning.code?.startsWith('APISERVER_TOKEN_'))).toEqual([]);
    expect(diagnosticsLogger.calls.map((call) => call.object.code)).toEqual([
      'APISERVER_TOKEN_KEYS_UNAVAILABLE',
    ]);
    expect(logger.calls.filter((call) => call.object.code === 'APISERVER_TOKEN_KEYS_UNAVAILABLE')).toEqual(
      [],
    );
    expect(logger.calls.filter((call) => call.object.code === 'issuer_unavailable')).toHaveLength(3);

    const skipped = recordingLogger();
    verifier({
      issuer: 'https://issuer.example',
      jwks: { keys: { keys: [{ kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' }, EC_KEY] } },
      diagnosticsLogger: skipped,
    });
    await settle();
    expect(ours('APISERVER_TOKEN_JWKS_KEY_SKIPPED')).toHaveLength(0);
    expect(skipped.calls).toMatchObject([{ level: 'warn', object: { jwks: expect.any(String) } }]);
    expect(JSON.stringify([...logger.calls, ...diagnosticsLogger.calls])).not.toContain(token);
  });

  it('diagnosticsLogger must be a logger', () => {
    expect(() =>
      verifier({ issuer: 'https://issuer.example', diagnosticsLogger: console.log as never }),
    ).toThrow(/diagnosticsLogger.*debug\/info\/warn\/error/);
  });

  it('keys skipped at import say which and why', () => {
    verifier({
      issuer: 'https://issuer.example',
      jwks: {
        keys: {
          keys: [{ kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' }, EC_KEY],
        },
      },
    });
    return settle().then(() => {
      const reports = ours('APISERVER_TOKEN_JWKS_KEY_SKIPPED');
      expect(reports).toHaveLength(1);
      expect(reports[0]?.message).toContain('hmac');
    });
  });

  it('observe mode warns at construction', async () => {
    verifier({ issuer: 'https://issuer.example', jwks: { keys: { keys: [EC_KEY] } }, enforce: false });
    await settle();
    expect(ours('APISERVER_TOKEN_OBSERVE_MODE')).toHaveLength(1);
  }, 10_000);

  it('repeats a condition still present only after the repeat interval, with the count', () => {
    const clock = { ms: 0 };
    const logger = recordingLogger();
    const d = new Diagnostics({ logger, now: () => clock.ms, repeatMs: 1000 });
    const report = {
      code: 'APISERVER_TOKEN_KEYS_UNAVAILABLE',
      cause: 'unreachable',
      level: 'warn',
      message: 'x',
    } as const;
    expect(d.report(report)).toBe(true);
    expect(d.report(report)).toBe(false);
    expect(d.report({ ...report, cause: 'forbidden' })).toBe(true);
    clock.ms = 1000;
    expect(d.report(report)).toBe(true);
    expect(logger.calls.at(-1)?.object.repeated).toBe(1);
    d.resolve('APISERVER_TOKEN_KEYS_UNAVAILABLE');
    expect(d.report(report)).toBe(true);
  });

  it('client-node 2.x on Node.js before 22.19 is "needs Node.js >= 22.19", not "not installed"', () => {
    expect(clientNodeIncompatibility('2.0.1', '20.20.2')).toMatch(
      /needs Node\.js >= 22\.19 \(this is Node\.js 20\.20\.2\)/,
    );
    expect(clientNodeIncompatibility('2.0.1', '22.19.0')).toBeUndefined();
    expect(clientNodeIncompatibility('1.4.0', '20.20.2')).toBeUndefined();
  });
});

describe('clock skew suspected: a burst of validly signed tokens from the future', () => {
  const ahead = () => Math.floor(Date.now() / 1000) + 10 * 60;

  it('three within minutes produce one warning that names NTP, never a token', async () => {
    const api = await kit();
    const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca } });
    await v.ready();
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++)
      tokens.push(await api.mintToken({ audiences: [AUDIENCE], issuedAt: ahead() }));
    for (const token of tokens) await hammer(v, token, 1);
    // Two may be a token minted ahead on purpose: not yet a clock to fix.
    expect(ours('APISERVER_TOKEN_CLOCK_SKEW')).toHaveLength(0);
    for (let i = 0; i < 4; i++)
      tokens.push(await api.mintToken({ audiences: [AUDIENCE], issuedAt: ahead() }));
    for (const token of tokens.slice(2)) await hammer(v, token, 1);
    const reports = ours('APISERVER_TOKEN_CLOCK_SKEW');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.message).toMatch(/not yet valid or issued in the future .*clock .* is probably off/);
    expect(reports[0]?.message).toMatch(/from now/);
    expect(reports[0]?.detail).toMatch(/NTP/);
    expect(reports[0]?.detail).toMatch(/control-plane nodes/);
    for (const token of tokens) {
      expect(`${reports[0]?.message} ${reports[0]?.detail}`).not.toContain(token.split('.')[1]);
    }
  });

  it('tokens from the future with a bad signature do not count: only the issuer can make one', async () => {
    const api = await kit();
    const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca } });
    await v.ready();
    for (let i = 0; i < 5; i++) {
      const token = await api.mintToken({ audiences: [AUDIENCE], issuedAt: ahead() });
      await hammer(v, `${token.slice(0, -4)}AAAA`, 1);
    }
    expect(ours('APISERVER_TOKEN_CLOCK_SKEW')).toHaveLength(0);
  });
});

describe('discovery that wants a credential (kube-apiserver without anonymous discovery)', () => {
  it('a 403 on discovery names the ClusterRole to bind, once, without a token', async () => {
    const api = await startTestApiserver({ discovery: 'authenticated' });
    kits.push(api);
    const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca, cooldown: 0 } });
    await hammer(v, await api.mintToken({ audiences: [AUDIENCE] }));
    const reports = ours('APISERVER_TOKEN_KEYS_UNAVAILABLE');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.message).toContain('403');
    expect(reports[0]?.detail).toContain('bind the ClusterRole system:service-account-issuer-discovery');
    expect(reports[0]?.detail).toContain('kubectl create clusterrolebinding');
  });

  it('a service-account credential is let in: the same kit then serves the keys', async () => {
    const api = await startTestApiserver({ discovery: 'authenticated' });
    kits.push(api);
    const dir = mkdtempSync(join(tmpdir(), 'apiserver-token-discovery-'));
    const credentialFile = join(dir, 'token');
    writeFileSync(
      credentialFile,
      await api.mintToken({ namespace: 'my-ns', serviceAccount: 'my-webhook', audiences: [api.issuer] }),
    );
    try {
      const v = verifier({ issuer: api.issuer, jwks: { ca: api.ca, credentialFile } });
      await v.ready();
      const identity = await v.verify({
        headers: { authorization: `Bearer ${await api.mintToken({ audiences: [AUDIENCE] })}` },
      });
      expect(identity.verifiedBy).toBe('jwks');
      await settle();
      expect(ours('APISERVER_TOKEN_KEYS_UNAVAILABLE')).toHaveLength(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
