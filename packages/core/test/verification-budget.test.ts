/**
 * `maxVerificationsPerSecond`: the token bucket alone on a driven clock, then a verifier with the
 * bound behind a real HTTP server on 127.0.0.1, against the testing kit's real keys: a flood of
 * distinct forged tokens is answered 503 `verification_throttled` beyond the budget while the
 * cached genuine token keeps answering 200; what is refused before the signature check never
 * spends the budget; hybrid mode bounds its local step; configuration and environment.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../src/diagnostics/diagnostics.js';
import {
  ApiserverTokenConfigError,
  type ApiserverTokenVerifier,
  createVerifier,
  renderAdmissionDenial,
  renderError,
  VerificationThrottledError,
  type VerifierOptions,
} from '../src/index.js';
import { VerificationBudget } from '../src/jwks/verification-budget.js';
import { jwksOf, kubeClaims, makeKey, signJwt } from './helpers/keys.js';
import { kitSuite } from './helpers/kit-suite.js';
import { recordingLogger } from './helpers/logger.js';
import { sampleValue, serveRegistry } from './helpers/metrics-readers.js';
import { type CallResult, call, pool } from './helpers/verifying-server.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';

/** A clock the test moves by hand, in milliseconds, starting at the real time (tokens are minted at it). */
function drivenClock(): { now: () => number; advance: (ms: number) => void } {
  let at = Date.now();
  return {
    now: () => at,
    advance: (ms) => {
      at += ms;
    },
  };
}

function refusal(budget: VerificationBudget): VerificationThrottledError {
  try {
    budget.spend();
  } catch (error) {
    return error as VerificationThrottledError;
  }
  throw new Error('expected a refusal, the budget had a token');
}

describe('the token bucket (driven clock)', () => {
  it('starts full at the burst, refuses the next, and refills at the rate', () => {
    const clock = drivenClock();
    const budget = new VerificationBudget({ rate: 10, burst: 3, now: clock.now });
    for (let index = 0; index < 3; index++) budget.spend();
    const refused = refusal(budget);
    expect(refused).toBeInstanceOf(VerificationThrottledError);
    expect(refused).toMatchObject({ code: 'verification_throttled', status: 503, retryAfter: 1 });
    expect(refused.message).toContain('maxVerificationsPerSecond');
    // 10/s: one token every 100 ms.
    clock.advance(99);
    expect(() => budget.spend()).toThrow(VerificationThrottledError);
    clock.advance(1);
    budget.spend();
    expect(() => budget.spend()).toThrow(VerificationThrottledError);
    // Never more than the burst, however long it was idle.
    clock.advance(3_600_000);
    expect(budget.available).toBe(3);
    for (let index = 0; index < 3; index++) budget.spend();
    expect(() => budget.spend()).toThrow(VerificationThrottledError);
  });

  it('Retry-After is the whole seconds until a token is back, at least 1', () => {
    const clock = drivenClock();
    const slow = new VerificationBudget({ rate: 0.1, burst: 1, now: clock.now });
    slow.spend();
    expect(refusal(slow).retryAfter).toBe(10);
    expect(refusal(slow).headers).toEqual({ 'retry-after': '10' });
    clock.advance(2500);
    expect(refusal(slow).retryAfter).toBe(8); // 7.5 s left, rounded up
    clock.advance(7500);
    slow.spend();
    const fast = new VerificationBudget({ rate: 1000, burst: 1, now: clock.now });
    fast.spend();
    expect(refusal(fast).retryAfter).toBe(1); // 1 ms left: still a whole second
  });

  it('a clock that steps back refills nothing and empties nothing', () => {
    const clock = drivenClock();
    const budget = new VerificationBudget({ rate: 1, burst: 2, now: clock.now });
    budget.spend();
    clock.advance(-60_000);
    expect(budget.available).toBe(1);
    budget.spend();
    expect(() => budget.spend()).toThrow(VerificationThrottledError);
    clock.advance(1000);
    budget.spend();
  });

  it('warns at most once a minute with how many were refused and what to raise', () => {
    const clock = drivenClock();
    const logger = recordingLogger();
    const diagnostics = new Diagnostics({ logger, now: clock.now });
    // One token per 100 s: nothing refills during the test.
    const budget = new VerificationBudget({ rate: 0.01, burst: 1, now: clock.now, diagnostics });
    budget.spend();
    for (let index = 0; index < 5; index++) refusal(budget);
    const warnings = () =>
      logger.calls.filter((c) => c.object.code === 'APISERVER_TOKEN_VERIFICATIONS_THROTTLED');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 'warn' });
    expect(warnings()[0]?.message).toMatch(/refused 1 new token\(s\) with 503 verification_throttled/);
    expect(String(warnings()[0]?.object.fix)).toContain('raise maxVerificationsPerSecond');
    clock.advance(59_000);
    refusal(budget);
    refusal(budget);
    expect(warnings()).toHaveLength(1);
    clock.advance(1_000);
    refusal(budget);
    expect(warnings()).toHaveLength(2);
    // The 4 after the first warning, the 2 of the 59th second, and this one.
    expect(warnings()[1]?.message).toMatch(/refused 7 new token\(s\) in the last 60 s/);
  });
});

describe('a verifier with maxVerificationsPerSecond, over HTTP against the testing kit', () => {
  const kit = kitSuite({ tokenReviewCache: false });

  async function webhook(options: Partial<VerifierOptions>, mode: 'jwks' | 'hybrid' = 'jwks') {
    const verifier = createVerifier({
      audience: AUDIENCE,
      mode,
      issuer: kit.api.issuer,
      jwks: { uri: kit.api.jwksUrl, ca: kit.api.ca },
      ...(mode === 'hybrid' && { kubeconfig: kit.api.kubeconfigPath }),
      inCluster: false,
      env: {},
      ...options,
    });
    await verifier.ready();
    const server = await kit.serve(verifier);
    return server.url;
  }

  const genuine = (serviceAccount = 'webhook-auth') =>
    kit.api.mintToken({ namespace: 'kube-system', serviceAccount, audiences: [AUDIENCE] });
  /** Right issuer, audience and kid, naming the allowed account; a bad signature; a new jti each. */
  const forged = (serviceAccount = 'webhook-auth') =>
    kit.api.mintToken({
      namespace: 'kube-system',
      serviceAccount,
      audiences: [AUDIENCE],
      tamper: 'signature',
    });
  const verdict = (result: CallResult) => `${result.status} ${String(result.body.error ?? 'ok')}`;

  it('a flood of distinct forged tokens beyond the rate: 503 verification_throttled with Retry-After, never a 2xx; the cached token keeps answering 200', async () => {
    const clock = drivenClock();
    const diagnosticsLogger = recordingLogger();
    const url = await webhook({
      maxVerificationsPerSecond: 5,
      verificationBurst: 5,
      now: clock.now,
      diagnosticsLogger,
    });
    const cached = await genuine();
    expect(verdict(await call(url, cached))).toBe('200 ok'); // 4 tokens left
    const forgeries = await Promise.all(Array.from({ length: 60 }, () => forged()));
    expect(new Set(forgeries).size).toBe(60);
    // The flood and the genuine caller interleaved, 16 requests in flight at a time.
    const results = await pool(120, 16, (index) =>
      index % 2 === 0 ? call(url, forgeries[index / 2] as string) : call(url, cached),
    );
    const flood = results.filter((_, index) => index % 2 === 0);
    const calls = results.filter((_, index) => index % 2 === 1);
    expect(calls.map(verdict)).toEqual(Array(60).fill('200 ok'));
    expect(flood.filter((result) => result.status < 300)).toEqual([]);
    const counts = new Map<string, number>();
    for (const result of flood) counts.set(verdict(result), (counts.get(verdict(result)) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({
      '401 invalid_signature': 4,
      '503 verification_throttled': 56,
    });
    for (const result of flood.filter((r) => r.status === 503)) {
      expect(result.headers['retry-after']).toBe('1');
      expect(result.body.error_description).toBe('the token cannot be verified right now; retry later');
    }
    // The operator hears of it once, with the option to raise, and never a token.
    const warnings = diagnosticsLogger.calls.filter(
      (c) => c.object.code === 'APISERVER_TOKEN_VERIFICATIONS_THROTTLED',
    );
    expect(warnings).toHaveLength(1);
    const text = JSON.stringify(warnings);
    expect(text).toContain('maxVerificationsPerSecond');
    for (const token of [cached, ...forgeries]) {
      expect(text).not.toContain(token.split('.')[2]);
      expect(text).not.toContain(token.split('.')[1]);
    }
  });

  it('a genuine new token is refused 503 (not cached) while the bucket is empty, accepted once it refills', async () => {
    const clock = drivenClock();
    const url = await webhook({ maxVerificationsPerSecond: 2, now: clock.now }); // burst 2
    for (const token of await Promise.all([forged(), forged()])) {
      expect(verdict(await call(url, token))).toBe('401 invalid_signature');
    }
    const fresh = await genuine('newcomer');
    const refused = await call(url, fresh);
    expect(verdict(refused)).toBe('503 verification_throttled');
    expect(refused.headers['retry-after']).toBe('1');
    expect(verdict(await call(url, fresh))).toBe('503 verification_throttled');
    clock.advance(500); // one token back at 2/s
    expect(verdict(await call(url, fresh))).toBe('200 ok');
    // Now cached: it never spends the budget again, empty as it is.
    expect(verdict(await call(url, await forged()))).toBe('503 verification_throttled');
    for (let index = 0; index < 5; index++) expect(verdict(await call(url, fresh))).toBe('200 ok');
  });

  it('what the pre-check or policy.serviceAccounts refuses, and duplicates of one token, spend nothing', async () => {
    const clock = drivenClock();
    const url = await webhook({
      maxVerificationsPerSecond: 3,
      now: clock.now,
      policy: { serviceAccounts: ['kube-system:webhook-auth'] },
    });
    const otherAudience = await kit.api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      audiences: ['https://elsewhere.example'],
      tamper: 'signature',
    });
    const otherIssuer = await kit.api.mintToken({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      audiences: [AUDIENCE],
      issuer: 'https://not-our-cluster.example',
    });
    const refusedFirst = [
      'not-a-jwt',
      'a.b.c',
      otherAudience,
      otherIssuer,
      ...(await Promise.all(Array.from({ length: 20 }, () => forged('intruder')))),
    ];
    const verdicts = await pool(refusedFirst.length, 8, (index) => call(url, refusedFirst[index] as string));
    expect(new Set(verdicts.map(verdict))).toEqual(
      new Set(['401 malformed_token', '401 audience_mismatch', '401 unknown_issuer', '403 forbidden']),
    );
    // One genuine token asked 20 times at once: one verification, shared or cached.
    const once = await genuine();
    const duplicates = await pool(20, 20, () => call(url, once));
    expect(new Set(duplicates.map(verdict))).toEqual(new Set(['200 ok']));
    // The whole budget but that one verification is still there: exactly two more signature checks.
    const left = await Promise.all([forged(), forged(), forged()]);
    expect(verdict(await call(url, left[0] as string))).toBe('401 invalid_signature');
    expect(verdict(await call(url, left[1] as string))).toBe('401 invalid_signature');
    expect(verdict(await call(url, left[2] as string))).toBe('503 verification_throttled');
  });

  it('hybrid mode bounds its local step: throttled forgeries cost no TokenReview', async () => {
    const clock = drivenClock();
    const url = await webhook({ maxVerificationsPerSecond: 2, now: clock.now }, 'hybrid');
    const cached = await genuine();
    expect(verdict(await call(url, cached))).toBe('200 ok');
    expect(kit.api.calls('tokenreviews')).toBe(1);
    const forgeries = await Promise.all(Array.from({ length: 10 }, () => forged()));
    const flood = await pool(10, 5, (index) => call(url, forgeries[index] as string));
    expect(flood.map(verdict).sort()).toEqual([
      '401 invalid_signature',
      ...Array(9).fill('503 verification_throttled'),
    ]);
    expect(kit.api.calls('tokenreviews')).toBe(1);
    clock.advance(1000);
    const fresh = await genuine('newcomer');
    expect(verdict(await call(url, fresh))).toBe('200 ok');
    expect(kit.api.calls('tokenreviews')).toBe(2);
  });

  it('counts throttled requests as unavailable, code verification_throttled (a scrape over HTTP)', async () => {
    const clock = drivenClock();
    const registry = new Registry();
    const metrics = await serveRegistry(registry);
    try {
      const url = await webhook({ maxVerificationsPerSecond: 1, now: clock.now, metrics: { registry } });
      const tokens = await Promise.all([forged(), forged(), forged()]);
      for (const token of tokens) await call(url, token);
      const samples = await metrics.scrape();
      expect(
        sampleValue(samples, 'apiserver_token_requests_total', {
          outcome: 'unavailable',
          code: 'verification_throttled',
        }),
      ).toBe(2);
      expect(
        sampleValue(samples, 'apiserver_token_requests_total', {
          outcome: 'rejected',
          code: 'invalid_signature',
        }),
      ).toBe(1);
    } finally {
      await metrics.close();
    }
  });

  it('renders as a 503 in every form: JSON body, admission denial, recognized across copies', () => {
    const error = new VerificationThrottledError('over the budget', { retryAfter: 3 });
    expect(renderError(error)).toMatchObject({
      status: 503,
      headers: { 'retry-after': '3' },
      body: { error: 'verification_throttled' },
    });
    // The same fields from another copy of the library (no shared class) render alike.
    const foreign = Object.assign(new Error('over the budget'), {
      code: 'verification_throttled',
      status: 503,
      description: 'the token cannot be verified right now; retry later',
      headers: { 'retry-after': '3' },
      retryAfter: 3,
    });
    expect(renderError(foreign)).toEqual(renderError(error));
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1' } };
    const denial = renderAdmissionDenial(error, review);
    expect(denial?.body.response).toMatchObject({
      uid: 'u-1',
      allowed: false,
      status: { code: 503 },
    });
    expect(JSON.stringify(denial?.body)).toContain('verification_throttled');
  });
});

describe('configuration', () => {
  const key = makeKey('ES256');
  const ISSUER = 'https://issuer.example';
  const base = (
    options: Partial<VerifierOptions> = {},
    env: Record<string, string> = {},
  ): VerifierOptions => ({
    audience: AUDIENCE,
    issuer: ISSUER,
    jwks: { keys: jwksOf(key) as never },
    inCluster: false as const,
    env,
    ...options,
  });
  /** A distinct token with a bad signature (a signature check, no network: static keys). */
  const forgedLocally = (clock: { now: () => number }, index: number): string => {
    const signed = signJwt(
      key,
      kubeClaims({
        issuer: ISSUER,
        audiences: [AUDIENCE],
        nowSeconds: Math.floor(clock.now() / 1000),
        extra: { jti: `j${index}` },
      }),
    );
    const [header, claims] = signed.split('.');
    return `${header}.${claims}.${signJwt(key, { other: index }).split('.')[2]}`;
  };
  const outcomes = async (v: ApiserverTokenVerifier, tokens: string[]) =>
    Promise.all(
      tokens.map((token) =>
        v.verifyToken(token).then(
          () => 'accepted',
          (error: VerificationThrottledError) =>
            error.code === 'verification_throttled' ? `throttled ${error.retryAfter}` : error.code,
        ),
      ),
    );

  function configError(options: VerifierOptions): ApiserverTokenConfigError {
    try {
      createVerifier(options).close();
    } catch (error) {
      expect(error).toBeInstanceOf(ApiserverTokenConfigError);
      return error as ApiserverTokenConfigError;
    }
    throw new Error('expected a configuration error');
  }

  it('refuses bad values, naming the field and what to do', () => {
    expect(configError(base({ maxVerificationsPerSecond: -1 }))).toMatchObject({
      field: 'maxVerificationsPerSecond',
      message: expect.stringMatching(
        /`maxVerificationsPerSecond`: must be a non-negative number of verifications per second \(0 for no bound\) \(option `maxVerificationsPerSecond` or APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND\), got -1/,
      ),
    });
    expect(configError(base({ maxVerificationsPerSecond: Number.NaN })).field).toBe(
      'maxVerificationsPerSecond',
    );
    expect(configError(base({ maxVerificationsPerSecond: Number.POSITIVE_INFINITY })).field).toBe(
      'maxVerificationsPerSecond',
    );
    expect(configError(base({ maxVerificationsPerSecond: '100' as unknown as number })).message).toContain(
      'got "100"',
    );
    expect(configError(base({ maxVerificationsPerSecond: 100, verificationBurst: 2.5 })).message).toMatch(
      /`verificationBurst`: must be a whole number of verifications/,
    );
    expect(configError(base({ maxVerificationsPerSecond: 100, verificationBurst: 0 })).message).toMatch(
      /`verificationBurst`: must be a whole number of verifications, at least 1/,
    );
    expect(configError(base({ verificationBurst: 10 })).message).toMatch(
      /`verificationBurst`: has no effect without maxVerificationsPerSecond: set that too/,
    );
    expect(configError(base({ maxVerificationsPerSecond: 0, verificationBurst: 10 })).field).toBe(
      'verificationBurst',
    );
    expect(configError(base({ maxVerificationPerSecond: 5 } as VerifierOptions)).message).toMatch(
      /maxVerificationsPerSecond/,
    );
  });

  it('refuses the bound in tokenreview mode, where it would bound nothing, and says what to use', () => {
    const review = { audience: AUDIENCE, mode: 'tokenreview' as const, kubeconfig: 'in-cluster', env: {} };
    const error = configError({ ...review, maxVerificationsPerSecond: 100 });
    expect(error.field).toBe('maxVerificationsPerSecond');
    expect(error.message).toMatch(/mode 'tokenreview' does not run.*`tokenReview.maxInFlight`/);
    expect(
      configError({ ...review, env: { APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND: '100' } }).field,
    ).toBe('APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND');
    expect(configError({ ...review, verificationBurst: 5 }).field).toBe('verificationBurst');
    // 0 is "no bound": harmless anywhere, so a shared environment may carry it.
    createVerifier({ ...review, maxVerificationsPerSecond: 0 }).close();
  });

  it('a legacy secret-based token spends one token, and is throttled like any other', async () => {
    const clock = drivenClock();
    const v = createVerifier(
      base({ now: clock.now, allowLegacyTokens: true, maxVerificationsPerSecond: 1, verificationBurst: 2 }),
    );
    const P = 'kubernetes.io/serviceaccount/';
    const legacy = (secret: string) =>
      signJwt(key, {
        iss: 'kubernetes/serviceaccount',
        sub: 'system:serviceaccount:kube-system:webhook-auth',
        [`${P}namespace`]: 'kube-system',
        [`${P}secret.name`]: secret,
        [`${P}service-account.name`]: 'webhook-auth',
        [`${P}service-account.uid`]: '0d5e9a80-0000-4000-8000-00000000000a',
      });
    expect(await outcomes(v, [legacy('one'), legacy('two'), legacy('three')])).toEqual([
      'accepted',
      'accepted',
      'throttled 1',
    ]);
    clock.advance(1000);
    expect(await outcomes(v, [legacy('three')])).toEqual(['accepted']);
    await v.close();
  });

  it('spends one token per key tried: a forgery without kid against three keys spends three', async () => {
    const clock = drivenClock();
    const others = [makeKey('ES256'), makeKey('ES256')];
    const logger = recordingLogger();
    const v = createVerifier(
      base({
        now: clock.now,
        logger,
        jwks: { keys: jwksOf(key, ...others) as never },
        maxVerificationsPerSecond: 1,
        verificationBurst: 3,
      }),
    );
    const claims = (index: number) =>
      kubeClaims({
        issuer: ISSUER,
        audiences: [AUDIENCE],
        nowSeconds: Math.floor(clock.now() / 1000),
        extra: { jti: `k${index}` },
      });
    const foreign = makeKey('ES256');
    // No kid: every key of the set is a candidate, each a signature check.
    const withoutKid = (index: number) => signJwt(foreign, claims(index), { kid: undefined });
    expect(await outcomes(v, [withoutKid(1)])).toEqual(['invalid_signature']);
    expect(await outcomes(v, [withoutKid(2)])).toEqual(['throttled 1']);
    clock.advance(1000);
    // Under a kid only that key is tried: one token.
    expect(await outcomes(v, [forgedLocally(clock, 3), withoutKid(4)])).toEqual([
      'invalid_signature',
      'throttled 1',
    ]);
    // A throttled request is logged like a forged one (info), not as an outage (warn).
    const throttled = logger.calls.filter((c) => c.object.code === 'verification_throttled');
    expect(throttled.map((c) => c.level)).toEqual(['info', 'info']);
    await v.close();
  });

  it('with cache.failureTtl a replayed forgery costs one check; without it, one per replay', async () => {
    const clock = drivenClock();
    const replays = async (options: Partial<VerifierOptions>) => {
      const v = createVerifier(
        base({ now: clock.now, maxVerificationsPerSecond: 1, verificationBurst: 2, ...options }),
      );
      const forged = forgedLocally(clock, 9);
      const seen = await outcomes(v, [forged, forged, forged]);
      await v.close();
      return seen;
    };
    expect(await replays({})).toEqual(['invalid_signature', 'invalid_signature', 'throttled 1']);
    expect(await replays({ cache: { failureTtl: 5 } })).toEqual([
      'invalid_signature',
      'invalid_signature',
      'invalid_signature',
    ]);
  });

  it('reads the environment; an explicit option wins', async () => {
    const clock = drivenClock();
    const fromEnv = createVerifier(
      base(
        { now: clock.now },
        { APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND: '0.5', APISERVER_TOKEN_VERIFICATION_BURST: '2' },
      ),
    );
    const tokens = Array.from({ length: 4 }, (_, index) => forgedLocally(clock, index));
    // Burst 2, then one every 2 s.
    expect(await outcomes(fromEnv, tokens.slice(0, 3))).toEqual([
      'invalid_signature',
      'invalid_signature',
      'throttled 2',
    ]);
    clock.advance(2000);
    expect(await outcomes(fromEnv, [tokens[3] as string])).toEqual(['invalid_signature']);
    await fromEnv.close();
    const explicit = createVerifier(
      base(
        { now: clock.now, maxVerificationsPerSecond: 100 },
        { APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND: '0.5', APISERVER_TOKEN_VERIFICATION_BURST: '1' },
      ),
    );
    expect(await outcomes(explicit, tokens.slice(0, 2))).toEqual(['invalid_signature', 'throttled 1']);
    await explicit.close();
    // Unset (the default): no bound at all.
    const unbounded = createVerifier(base({ now: clock.now }));
    const many = Array.from({ length: 50 }, (_, index) => forgedLocally(clock, 100 + index));
    expect(new Set(await outcomes(unbounded, many))).toEqual(new Set(['invalid_signature']));
    await unbounded.close();

    expect(configError(base({}, { APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND: 'fast' }))).toMatchObject({
      field: 'APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND',
      message: expect.stringContaining('must be a non-negative number, got "fast"'),
    });
    expect(configError(base({}, { APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND: '-3' })).field).toBe(
      'APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND',
    );
    expect(
      configError(
        base(
          {},
          { APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND: '10', APISERVER_TOKEN_VERIFICATION_BURST: '1.5' },
        ),
      ).message,
    ).toMatch(
      /`verificationBurst`: must be a whole number of verifications \(option `verificationBurst` or APISERVER_TOKEN_VERIFICATION_BURST\), got 1.5/,
    );
    expect(configError(base({}, { APISERVER_TOKEN_MAX_VERIFICATION_PER_SECOND: '10' })).message).toMatch(
      /did you mean APISERVER_TOKEN_MAX_VERIFICATIONS_PER_SECOND\?/,
    );
  });
});
