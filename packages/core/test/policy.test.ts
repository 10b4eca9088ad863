/**
 * The authorization policy (allow-lists, predicate) on real tokens minted and served by the
 * testing kit over HTTPS: globs, how several lists combine, construction errors, environment
 * variables, and that a cached identity never skips the policy.
 */
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiserverTokenConfigError,
  type ApiserverTokenVerifier,
  AttestationMismatchError,
  createVerifier,
  type RequestLike,
  type VerifierOptions,
} from '../src/index.js';
import { compileAllowList } from '../src/policy/glob.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
let api: TestApiserver;
const verifiers: ApiserverTokenVerifier[] = [];

beforeAll(async () => {
  api = await startTestApiserver();
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
});

function verifier(options: Partial<VerifierOptions> = {}): ApiserverTokenVerifier {
  const created = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    inCluster: false,
    env: {},
    ...options,
  });
  verifiers.push(created);
  return created;
}

const token = (namespace: string, serviceAccount: string) =>
  api.mintToken({ namespace, serviceAccount, audiences: [AUDIENCE] });
const request = (bearer: string): RequestLike => ({ headers: { authorization: `Bearer ${bearer}` } });

async function outcome(v: ApiserverTokenVerifier, bearer: string): Promise<string> {
  try {
    const identity = await v.verify(request(bearer));
    return `allowed ${identity.username}`;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

function configError(options: Partial<VerifierOptions>): ApiserverTokenConfigError {
  try {
    verifier(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    return error as ApiserverTokenConfigError;
  }
  throw new Error('expected a configuration error');
}

describe('allow-list patterns', () => {
  it('`*` matches within one `:`-separated segment, `*` alone matches everything', () => {
    const match = compileAllowList(['system:serviceaccounts:*', 'team-*-admins', 'exact']);
    expect(match('system:serviceaccounts:my-ns')).toBe(true);
    expect(match('system:serviceaccounts:')).toBe(true);
    expect(match('system:serviceaccounts:a:b')).toBe(false);
    expect(match('team-web-admins')).toBe(true);
    expect(match('team-web-admins2')).toBe(false);
    expect(match('exact')).toBe(true);
    expect(match('exactly')).toBe(false);
    // Regex metacharacters in patterns are literal.
    expect(compileAllowList(['a.b*'])('axb')).toBe(false);
    expect(compileAllowList(['a.b*'])('a.bc')).toBe(true);
    expect(compileAllowList(['*'])('system:serviceaccount:x:y')).toBe(true);
  });
});

describe('policy on verified tokens', () => {
  it('serviceAccounts: exact entries and globs in either part, matched as namespace:name pairs', async () => {
    const v = verifier({ policy: { serviceAccounts: ['kube-system:webhook-auth', 'my-ns:*', '*:auditor'] } });
    expect(await outcome(v, await token('kube-system', 'webhook-auth'))).toBe(
      'allowed system:serviceaccount:kube-system:webhook-auth',
    );
    expect(await outcome(v, await token('my-ns', 'anything'))).toBe(
      'allowed system:serviceaccount:my-ns:anything',
    );
    expect(await outcome(v, await token('other', 'auditor'))).toBe(
      'allowed system:serviceaccount:other:auditor',
    );
    expect(await outcome(v, await token('kube-system', 'other'))).toBe('forbidden');
    // Pairs, not parts: kube-system and `anything` are each allowed somewhere, but not together.
    expect(await outcome(v, await token('kube-system', 'anything'))).toBe('forbidden');
    expect(await outcome(v, await token('my-ns-2', 'x'))).toBe('forbidden');
  });

  it('usernames, groups and namespaces', async () => {
    const byName = verifier({ policy: { usernames: ['system:serviceaccount:kube-system:*'] } });
    expect(await outcome(byName, await token('kube-system', 'a'))).toMatch(/^allowed/);
    expect(await outcome(byName, await token('default', 'a'))).toBe('forbidden');

    const byGroup = verifier({ policy: { groups: ['system:serviceaccounts:team-*'] } });
    expect(await outcome(byGroup, await token('team-web', 'a'))).toMatch(/^allowed/);
    expect(await outcome(byGroup, await token('default', 'a'))).toBe('forbidden');

    const byNamespace = verifier({ policy: { namespaces: ['kube-system', 'prod-*'] } });
    expect(await outcome(byNamespace, await token('prod-eu', 'a'))).toMatch(/^allowed/);
    expect(await outcome(byNamespace, await token('kube-system', 'a'))).toMatch(/^allowed/);
    expect(await outcome(byNamespace, await token('dev', 'a'))).toBe('forbidden');
  });

  it('several lists combine with AND: adding a list only narrows', async () => {
    const v = verifier({
      policy: { namespaces: ['kube-system', 'my-ns'], serviceAccounts: ['*:webhook-auth'] },
    });
    expect(await outcome(v, await token('kube-system', 'webhook-auth'))).toMatch(/^allowed/);
    expect(await outcome(v, await token('my-ns', 'webhook-auth'))).toMatch(/^allowed/);
    // Matches serviceAccounts but not namespaces, then namespaces but not serviceAccounts.
    expect(await outcome(v, await token('other', 'webhook-auth'))).toBe('forbidden');
    expect(await outcome(v, await token('kube-system', 'someone'))).toBe('forbidden');
  });

  it('a static-token user is no service account: serviceAccounts and namespaces never match it', async () => {
    const user = await api.addUser({ name: 'admin', groups: ['ops'] });
    // Static tokens are audience-agnostic: TokenReview accepts them for the apiserver's own audiences only.
    const tokenreview = {
      audience: [...api.apiAudiences],
      mode: 'tokenreview' as const,
      kubeconfig: api.kubeconfigPath,
      tokenReview: { allowOpaqueTokens: true },
    };
    expect(await outcome(verifier({ ...tokenreview, policy: { usernames: ['admin'] } }), user.token)).toBe(
      'allowed admin',
    );
    expect(await outcome(verifier({ ...tokenreview, policy: { groups: ['ops'] } }), user.token)).toBe(
      'allowed admin',
    );
    expect(await outcome(verifier({ ...tokenreview, policy: { namespaces: ['*'] } }), user.token)).toBe(
      'forbidden',
    );
    expect(
      await outcome(verifier({ ...tokenreview, policy: { serviceAccounts: ['*:*'] } }), user.token),
    ).toBe('forbidden');
  });

  it('allow(identity, request): only `true` allows, it may be async, errors keep their meaning', async () => {
    const seen: Array<RequestLike | undefined> = [];
    const v = verifier({
      policy: {
        allow: async (identity, req) => {
          seen.push(req);
          await new Promise((resolve) => setTimeout(resolve, 5));
          if (identity.serviceAccount?.name === 'throws') throw new AttestationMismatchError('custom');
          if (identity.serviceAccount?.name === 'crashes') throw new Error('bug');
          return (identity.serviceAccount?.name === 'yes' ? true : 'yes') as boolean;
        },
      },
    });
    const yes = await token('ns', 'yes');
    expect(await outcome(v, yes)).toBe('allowed system:serviceaccount:ns:yes');
    expect(seen.at(-1)?.headers).toEqual({ authorization: `Bearer ${yes}` });
    expect(await outcome(v, await token('ns', 'truthy'))).toBe('forbidden');
    expect(await outcome(v, await token('ns', 'throws'))).toBe('attestation_mismatch');
    // Never a 500 and never an accept: an unexpected throw is a 503.
    expect(await outcome(v, await token('ns', 'crashes'))).toBe('issuer_unavailable');
    // verifyToken without a request: the predicate sees undefined.
    await v.verifyToken(yes);
    expect(seen.at(-1)).toBeUndefined();
  });

  it('a cached identity is still checked: the verdict is never cached, only the identity', async () => {
    let open = true;
    const v = verifier({ policy: { allow: () => open } });
    const bearer = await token('ns', 'cached');
    expect(await outcome(v, bearer)).toMatch(/^allowed/);
    open = false;
    expect(await outcome(v, bearer)).toBe('forbidden');
    open = true;
    expect(await outcome(v, bearer)).toMatch(/^allowed/);
    // And concurrent requests for one uncached token (one verification) are each checked.
    const fresh = await token('ns', 'concurrent');
    let calls = 0;
    const counting = verifier({ policy: { allow: () => ++calls % 2 === 0 } });
    const results = await Promise.all(Array.from({ length: 10 }, () => outcome(counting, fresh)));
    expect(calls).toBe(10);
    expect(results.filter((result) => result === 'forbidden')).toHaveLength(5);
  });
});

describe('policy before the signature (jwks mode)', () => {
  const forged = (namespace: string, serviceAccount: string) =>
    api.mintToken({ namespace, serviceAccount, audiences: [AUDIENCE], tamper: 'signature' });
  const reason = async (v: ApiserverTokenVerifier, bearer: string): Promise<string> =>
    v.verify(request(bearer)).then(
      () => 'allowed',
      (error: Error) => error.message,
    );

  it('a forged token for an account serviceAccounts or namespaces refuses is refused without a signature check', async () => {
    const v = verifier({ policy: { serviceAccounts: ['kube-system:webhook-auth'] } });
    // A signature check would have answered invalid_signature: forbidden shows it never ran.
    expect(await outcome(v, await forged('kube-system', 'intruder'))).toBe('forbidden');
    expect(await reason(v, await forged('kube-system', 'intruder'))).toMatch(
      /"kube-system:intruder" \(unverified\) is not in policy\.serviceAccounts: refused before its signature was checked/,
    );
    // The allowed account with a bad signature still meets the signature check, and fails it.
    expect(await outcome(v, await forged('kube-system', 'webhook-auth'))).toBe('invalid_signature');
    // Genuine tokens: the same verdicts as after a verification.
    expect(await outcome(v, await token('kube-system', 'webhook-auth'))).toBe(
      'allowed system:serviceaccount:kube-system:webhook-auth',
    );
    expect(await outcome(v, await token('kube-system', 'intruder'))).toBe('forbidden');

    const byNamespace = verifier({ policy: { namespaces: ['prod-*'] } });
    expect(await reason(byNamespace, await forged('dev', 'a'))).toMatch(
      /is not in policy\.namespaces: refused before/,
    );
    expect(await outcome(byNamespace, await forged('prod-eu', 'a'))).toBe('invalid_signature');
    expect(await outcome(byNamespace, await token('prod-eu', 'a'))).toMatch(/^allowed/);
  });

  it('only the lists the unverified claims decide: usernames, groups and allow() wait for the signature', async () => {
    const byName = verifier({ policy: { usernames: ['system:serviceaccount:kube-system:*'] } });
    expect(await outcome(byName, await forged('default', 'a'))).toBe('invalid_signature');
    const byPredicate = verifier({ policy: { allow: () => false } });
    expect(await outcome(byPredicate, await forged('default', 'a'))).toBe('invalid_signature');
    // Claims without a service account are left to the full verification (which refuses them).
    const v = verifier({ policy: { serviceAccounts: ['kube-system:webhook-auth'] } });
    const noAccount = await api.mintToken({
      audiences: [AUDIENCE],
      claims: { 'kubernetes.io': undefined },
      tamper: 'signature',
    });
    expect(await outcome(v, noAccount)).toBe('invalid_signature');
  });
});

describe('policy configuration', () => {
  it('bad patterns, empty lists and wrong types fail at construction naming the field', () => {
    expect(configError({ policy: { serviceAccounts: ['my-ns'] } }).field).toBe('policy.serviceAccounts');
    expect(configError({ policy: { serviceAccounts: ['a:b:c'] } }).message).toContain('namespace:name');
    expect(configError({ policy: { serviceAccounts: ['My-NS:x'] } }).field).toBe('policy.serviceAccounts');
    expect(configError({ policy: { serviceAccounts: ['ns:**'] } }).message).toContain('single `*`');
    expect(configError({ policy: { serviceAccounts: [] } }).message).toContain('empty allow-list');
    expect(configError({ policy: { groups: [] } }).field).toBe('policy.groups');
    expect(configError({ policy: { usernames: ['has space'] } }).field).toBe('policy.usernames');
    expect(configError({ policy: { usernames: ['a\u0001b'] } }).field).toBe('policy.usernames');
    expect(configError({ policy: { namespaces: ['a.b'] } }).field).toBe('policy.namespaces');
    expect(configError({ policy: { namespaces: 'kube-system' as unknown as string[] } }).field).toBe(
      'policy.namespaces',
    );
    expect(configError({ policy: { allow: true as unknown as () => boolean } }).field).toBe('policy.allow');
    expect(configError({ policy: { serviceacounts: ['a:b'] } as never }).field).toBe('policy.serviceacounts');
  });

  it('APISERVER_TOKEN_ALLOWED_* variables configure the lists; an explicit option wins', async () => {
    const env = {
      APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS: 'kube-system:webhook-auth, my-ns:*',
      APISERVER_TOKEN_ALLOWED_GROUPS: 'system:serviceaccounts',
    };
    const v = verifier({ env });
    expect(await outcome(v, await token('my-ns', 'x'))).toMatch(/^allowed/);
    expect(await outcome(v, await token('other', 'x'))).toBe('forbidden');
    const overridden = verifier({ env, policy: { serviceAccounts: ['other:*'] } });
    expect(await outcome(overridden, await token('other', 'x'))).toMatch(/^allowed/);
    expect(await outcome(overridden, await token('my-ns', 'x'))).toBe('forbidden');

    expect(configError({ env: { APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS: 'no-colon' } }).field).toBe(
      'APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS',
    );
    expect(configError({ env: { APISERVER_TOKEN_ALLOWED_NAMESPACES: 'Bad_NS' } }).field).toBe(
      'APISERVER_TOKEN_ALLOWED_NAMESPACES',
    );
  });
});
