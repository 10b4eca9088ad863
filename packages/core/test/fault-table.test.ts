/**
 * The fault table: every issuer (JWKS) and TokenReview fault state × {cold verifier, warm verifier,
 * key published during the fault}, over real sockets. Whatever the fault: no forgery is accepted,
 * nothing answers 500, an answer that depends on the unreachable issuer or apiserver is 503 with
 * Retry-After, and the verifier recovers within the cooldown once the fault is gone.
 */
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../src/index.js';
import { type Fault, startJwksServer } from './helpers/jwks-server.js';
import { jwksOf, kubeClaims, makeKey, rawJwt, signJwt, type TestKey } from './helpers/keys.js';
import { type CallResult, call, startVerifyingServer } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const COOLDOWN_S = 15;
type Scenario = 'cold' | 'warm' | 'published';
const SCENARIOS: Scenario[] = ['cold', 'warm', 'published'];

/** One request of the table and what it must get: a status, or 503 with Retry-After. */
interface Row {
  state: string;
  scenario: Scenario;
  phase: 'fault' | 'recovered';
  request: string;
  expected: number;
  got: number;
  retryAfter: string | undefined;
}

const rows: Row[] = [];
function record(
  state: string,
  scenario: Scenario,
  phase: Row['phase'],
  request: string,
  expected: number,
  answer: CallResult,
): void {
  rows.push({
    state,
    scenario,
    phase,
    request,
    expected,
    got: answer.status,
    retryAfter: answer.headers['retry-after'],
  });
}

const ISSUER_FAULTS: Array<[string, Fault]> = [
  ['down (connection reset)', { kind: 'reset' }],
  ['hanging (no answer)', { kind: 'hang' }],
  ['HTTP 500', { kind: 'status', status: 500 }],
  ['HTTP 503', { kind: 'status', status: 503 }],
  ['HTTP 429 with Retry-After', { kind: 'status', status: 429, retryAfter: '5' }],
  ['garbage JSON', { kind: 'garbage' }],
  ['HTML instead of JSON', { kind: 'html' }],
  ['oversized body', { kind: 'huge', bytes: 64 * 1024 }],
  ['TLS failure (untrusted certificate)', { kind: 'tls' }],
];

async function issuerRun(state: string, fault: Fault, scenario: Scenario): Promise<void> {
  const key = makeKey('RS256');
  const rotated = makeKey('ES256');
  const forger = makeKey('RS256');
  const api = await startJwksServer({ jwks: jwksOf(key) });
  const clock = { ms: Date.now() };
  const verifier = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca, timeout: 300, maxBytes: 16 * 1024, cooldown: COOLDOWN_S },
    now: () => clock.ms,
    env: {},
  });
  const web = await startVerifyingServer(verifier);
  let serial = 0;
  const mint = (signer: TestKey, kid: string = signer.kid): string =>
    signJwt(
      signer,
      kubeClaims({
        issuer: api.issuer,
        audiences: [AUDIENCE],
        nowSeconds: Math.floor(clock.ms / 1000),
        extra: { jti: `${state}-${scenario}-${serial++}` },
      }),
      { kid },
    );
  const ask = async (phase: Row['phase'], request: string, token: string, expected: number) =>
    record(state, scenario, phase, request, expected, await call(web.url, token));
  try {
    if (scenario !== 'cold') await verifier.ready();
    api.setFault(fault);
    if (scenario === 'published') api.jwks = jwksOf(key, rotated);
    const held = scenario !== 'cold';
    // Forgeries: a foreign key under the real kid, under an unknown kid, and alg none.
    await ask('fault', 'forged, real kid', mint(forger, key.kid), held ? 401 : 503);
    await ask('fault', 'forged, unknown kid', mint(forger), 503);
    await ask(
      'fault',
      'forged, alg none',
      rawJwt({ alg: 'none' }, { iss: api.issuer, aud: AUDIENCE }, ''),
      401,
    );
    await ask('fault', 'genuine, held key', mint(key), held ? 200 : 503);
    if (scenario === 'published')
      await ask('fault', 'genuine, key published during the fault', mint(rotated), 503);

    api.setFault({ kind: 'none' });
    clock.ms += COOLDOWN_S * 1000;
    await ask('recovered', 'genuine, held key', mint(key), 200);
    if (scenario === 'published')
      await ask('recovered', 'genuine, key published during the fault', mint(rotated), 200);
    await ask('recovered', 'forged, real kid', mint(forger, key.kid), 401);
    await ask('recovered', 'forged, unknown kid', mint(forger), 401);
  } finally {
    await web.close();
    await verifier.close();
    await api.close();
  }
}

const REVIEW_FAULTS: Array<[string, Parameters<TestApiserver['setFault']>[1]]> = [
  ['TokenReview down', { down: true }],
  ['TokenReview reset mid-answer', { reset: true }],
  ['TokenReview hanging', { latencyMs: 3000 }],
  ['TokenReview HTTP 500', { status: 500 }],
  ['TokenReview HTTP 503', { status: 503 }],
  ['TokenReview HTTP 429', { status: 429, retryAfter: 1 }],
  ['TokenReview garbage', { malformed: true }],
];

let kit: TestApiserver | undefined;
async function reviewRun(
  state: string,
  fault: Parameters<TestApiserver['setFault']>[1],
  scenario: Scenario,
): Promise<void> {
  kit ??= await startTestApiserver();
  const api = kit;
  const verifier = createVerifier({
    audience: AUDIENCE,
    mode: 'tokenreview',
    kubeconfig: api.kubeconfigPath,
    tokenReview: { timeout: 300, deadline: 1000, retries: 1, backoff: { initial: 50, max: 100 } },
    env: {},
  });
  const web = await startVerifyingServer(verifier);
  let serial = 0;
  const genuine = () =>
    api.mintToken({ serviceAccount: `sa-${state.length}-${scenario}-${serial++}`, audiences: [AUDIENCE] });
  const forged = () => api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign', jti: true });
  const ask = async (phase: Row['phase'], request: string, token: string, expected: number) =>
    record(state, scenario, phase, request, expected, await call(web.url, token));
  try {
    const cached = await genuine();
    if (scenario !== 'cold') await ask('fault', 'genuine, verified before the fault', cached, 200);
    api.setFault('tokenreviews', fault);
    if (scenario === 'published') api.rotateKeys();
    await ask('fault', 'forged, foreign key', await forged(), 503);
    await ask('fault', 'genuine, never seen', await genuine(), 503);
    if (scenario !== 'cold') await ask('fault', 'genuine, cached', cached, 200);
    api.clearFaults();
    await ask('recovered', 'genuine, never seen', await genuine(), 200);
    await ask('recovered', 'forged, foreign key', await forged(), 401);
  } finally {
    api.clearFaults();
    await web.close();
    await verifier.close();
  }
}

afterAll(async () => {
  await kit?.close();
});

describe('the fault table', () => {
  it('every fault state × {cold, warm, key published during the fault}: 0 forged accepts, 0 500s, 503 + Retry-After when the issuer decides, recovery', async () => {
    for (const [state, fault] of ISSUER_FAULTS) {
      for (const scenario of SCENARIOS) await issuerRun(state, fault, scenario);
    }
    for (const [state, fault] of REVIEW_FAULTS) {
      for (const scenario of SCENARIOS) await reviewRun(state, fault, scenario);
    }
    const wrong = rows.filter(
      (row) => row.got !== row.expected || (row.got === 503 && !/^\d+$/.test(row.retryAfter ?? '')),
    );
    expect(
      wrong.map(
        (row) =>
          `${row.state} / ${row.scenario} / ${row.phase}: ${row.request} → ${row.got}, expected ${row.expected}`,
      ),
    ).toEqual([]);
    expect(rows.filter((row) => row.request.startsWith('forged') && row.got === 200)).toEqual([]);
    expect(rows.filter((row) => row.got >= 500 && row.got !== 503)).toEqual([]);
    expect(rows.length).toBeGreaterThan(150);
  }, 240_000);
});
