/**
 * Every recorded real TokenReview replayed over real HTTPS: a local server answers each recorded
 * request with the response kube-apiserver v1.28.4 gave (201 + JSON), the real
 * `@kubernetes/client-node` reaches it through a real kubeconfig, and our verdict and identity
 * must be the apiserver's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiserverIdentity,
  type ApiserverTokenError,
  createVerifier,
  isApiserverTokenError,
  type JsonWebKeySet,
  type VerifierOptions,
} from '../src/index.js';
import { FIXTURE_ISSUER, type FixtureCase, fixtureJson } from './helpers/fixtures.js';
import { type ReviewServer, startReviewServer } from './helpers/review-server.js';

interface RecordedCase extends FixtureCase {
  files: [string, string];
  tokenReview: FixtureCase['tokenReview'] & {
    audiences?: string[] | null;
    user: FixtureCase['tokenReview']['user'] & { extra?: Record<string, string[]> };
  };
}

const { cases, apiAudiences } = fixtureJson<{ cases: RecordedCase[]; apiAudiences: string[] }>('cases.json');
const jwks = fixtureJson<JsonWebKeySet>('discovery/jwks.json');

let server: ReviewServer;
let current: RecordedCase | undefined;
const mismatches: string[] = [];
/** Outcomes per describe block, checked at its end so that no block passes vacuously. */
const tally = new Map<string, number>();
const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);

beforeAll(async () => {
  server = await startReviewServer((request) => {
    const c = current;
    const spec = (request.body as { spec?: { token?: string; audiences?: string[] } }).spec;
    // Recordings without audiences (or with []) were reviewed for the apiserver's own audiences,
    // which is what we send explicitly for those cases.
    const recorded = fixtureJson<{ spec: { token: string; audiences?: string[] } }>(c?.files[0] ?? '');
    const recordedAudiences = recorded.spec.audiences?.length ? recorded.spec.audiences : apiAudiences;
    if (
      c === undefined ||
      spec?.token !== recorded.spec.token ||
      !sameList(spec?.audiences, recordedAudiences)
    ) {
      mismatches.push(`${c?.id}: unexpected request ${JSON.stringify(spec?.audiences)}`);
      return { status: 400, body: { kind: 'Status', code: 400 } };
    }
    return { status: 201, headers: { 'content-type': 'application/json' }, body: fixtureJson(c.files[1]) };
  });
});
afterAll(async () => {
  await server?.close();
});

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((item, index) => item === b[index]);
}

/** The apiserver's verdict for our audiences: authenticated, and for at least one of them. */
function apiserverAccepts(c: RecordedCase): boolean {
  return (
    c.tokenReview.authenticated === true &&
    (c.tokenReview.audiences ?? []).some((a) => c.audiences.includes(a))
  );
}

async function run(c: RecordedCase, options: VerifierOptions) {
  current = c;
  server.received.length = 0;
  const verifier = createVerifier({
    audience: c.audiences,
    kubeconfig: server.kubeconfigPath,
    now: () => Date.parse(c.at),
    env: {},
    ...options,
  });
  try {
    const outcome = await verifier.verify({ headers: { authorization: `Bearer ${c.token}` } }).then(
      (identity) => ({ identity, error: undefined }),
      (error: unknown) => ({ identity: undefined, error: error as ApiserverTokenError }),
    );
    return { ...outcome, calls: server.received.length };
  } finally {
    await verifier.close();
    current = undefined;
  }
}

function expectApiserverIdentity(c: RecordedCase, identity: ApiserverIdentity | undefined) {
  expect(identity).toBeDefined();
  const user = c.tokenReview.user;
  const id = identity as ApiserverIdentity;
  expect(id.username).toBe(user.username);
  expect(id.uid).toBe(user.uid);
  expect(id.groups).toEqual(user.groups);
  expect(id.extra).toEqual(user.extra ?? {});
  expect(id.audiences).toEqual(c.tokenReview.audiences?.filter((a) => c.audiences.includes(a)));
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.username ?? '');
  if (sa) {
    expect(id.serviceAccount).toEqual({ namespace: sa[1], name: sa[2], uid: user.uid });
  } else {
    expect(id.serviceAccount).toBeUndefined();
  }
  const podName = user.extra?.['authentication.kubernetes.io/pod-name']?.[0];
  if (podName !== undefined) {
    expect(id.boundObject).toEqual({
      kind: 'Pod',
      name: podName,
      uid: user.extra?.['authentication.kubernetes.io/pod-uid']?.[0],
      namespace: sa?.[1],
    });
  }
}

describe('recorded TokenReviews replayed: tokenreview mode, opaque and legacy tokens allowed', () => {
  it('has the cases', () => expect(cases.length).toBeGreaterThan(30));

  for (const c of cases) {
    it(`${c.id}: apiserver ${apiserverAccepts(c) ? 'accepts' : 'rejects'}`, async () => {
      const outcome = await run(c, {
        mode: 'tokenreview',
        allowLegacyTokens: true,
        tokenReview: { allowOpaqueTokens: true },
      });
      expect(mismatches).toEqual([]);
      if (apiserverAccepts(c)) {
        expect(outcome.error).toBeUndefined();
        expect(outcome.calls).toBe(1);
        expectApiserverIdentity(c, outcome.identity);
        expect(outcome.identity?.verifiedBy).toBe('tokenreview');
        count('tokenreview accepted');
      } else {
        expect(isApiserverTokenError(outcome.error)).toBe(true);
        expect(outcome.error?.status).toBe(401);
        // Either the apiserver said no, or the pre-check spared it a call it would have refused.
        if (outcome.error?.code === 'token_rejected') {
          expect(outcome.calls).toBe(1);
          count('tokenreview rejected by the apiserver');
        } else {
          expect(outcome.calls).toBe(0);
          count('tokenreview rejected locally');
        }
      }
    });
  }

  it('covers both verdicts, most rejections made by the apiserver', () => {
    expect(tally.get('tokenreview accepted')).toBe(18);
    expect(tally.get('tokenreview rejected by the apiserver')).toBeGreaterThanOrEqual(10);
    expect(tally.get('tokenreview rejected locally')).toBeGreaterThanOrEqual(3);
  });
});

describe('recorded TokenReviews replayed: tokenreview mode with the defaults', () => {
  // Default: opaque (static) and legacy tokens never reach the apiserver, even those it would accept.
  const LOCAL_ONLY = new Set([
    'tokenreview/12-static-token-omitted',
    'legacy-secret-token/01-legacy-aud-omitted',
    'legacy-secret-token/03-legacy-api-aud',
  ]);
  for (const c of cases) {
    const expectAccept = apiserverAccepts(c) && !LOCAL_ONLY.has(c.id);
    it(`${c.id}: ${expectAccept ? 'accept' : 'reject'}`, async () => {
      const outcome = await run(c, { mode: 'tokenreview' });
      expect(mismatches).toEqual([]);
      if (expectAccept) {
        expectApiserverIdentity(c, outcome.identity);
        expect(outcome.identity?.issuer).toBe(FIXTURE_ISSUER);
      } else {
        expect(outcome.error?.status).toBe(401);
        if (LOCAL_ONLY.has(c.id)) {
          expect(['malformed_token', 'legacy_token']).toContain(outcome.error?.code);
          expect(outcome.calls).toBe(0);
        }
      }
    });
  }
});

describe('recorded TokenReviews replayed: hybrid mode (local JWKS, then TokenReview)', () => {
  for (const c of cases) {
    const local = c.local.verdict === 'accept';
    const expected = local && apiserverAccepts(c) ? 'accept' : local ? 'revoked' : 'local reject';
    it(`${c.id}: ${expected}`, async () => {
      const outcome = await run(c, { mode: 'hybrid', issuer: FIXTURE_ISSUER, jwks: { keys: jwks } });
      expect(mismatches).toEqual([]);
      if (expected === 'accept') {
        expectApiserverIdentity(c, outcome.identity);
        expect(outcome.identity?.verifiedBy).toBe('hybrid');
        expect(outcome.identity?.issuer).toBe(FIXTURE_ISSUER);
        expect(outcome.calls).toBe(1);
        count('hybrid accepted');
      } else if (expected === 'revoked') {
        // The revocation gap: signature, issuer, audience and time are fine; the object is gone.
        expect(outcome.error?.code).toBe('revoked');
        expect(outcome.error?.status).toBe(401);
        expect(outcome.calls).toBe(1);
        count('hybrid revoked');
      } else {
        // Garbage and forgeries never cost an apiserver call.
        expect(outcome.error?.status).toBe(401);
        expect(outcome.calls).toBe(0);
        count('hybrid rejected locally');
      }
    });
  }

  it('accepted 15, caught the 5 revocations only TokenReview sees, spared the apiserver 21 calls', () => {
    expect(tally.get('hybrid accepted')).toBe(15);
    expect(tally.get('hybrid revoked')).toBe(5);
    expect(tally.get('hybrid rejected locally')).toBe(21);
  });
});
