import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiserverTokenConfigError, ForbiddenIdentityError, InvalidSignatureError } from '../src/errors.js';
import { createHttpAuthenticator, resolveVerifier } from '../src/http/http-authenticator.js';
import type { ApiserverIdentity } from '../src/identity.js';
import type { JsonWebKey, VerifierOptions } from '../src/options.js';
import { createVerifier } from '../src/verifier/create-verifier.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';

let options: VerifierOptions;
let sign: (claims?: Record<string, unknown>) => Promise<string>;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' } as JsonWebKey;
  options = {
    audience: AUDIENCE,
    issuer: ISSUER,
    jwks: { keys: { keys: [jwk] } },
    inCluster: false,
    env: {},
  };
  sign = (claims = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: ISSUER,
      aud: [AUDIENCE],
      sub: 'system:serviceaccount:kube-system:webhook-auth',
      iat: now,
      nbf: now,
      exp: now + 600,
      'kubernetes.io': { namespace: 'kube-system', serviceaccount: { name: 'webhook-auth', uid: 'u-1' } },
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(privateKey);
  };
});

const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'r-1' } };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('createHttpAuthenticator', () => {
  it('verifies with a verifier of its own and runs onVerified before succeeding', async () => {
    const calls: Array<[ApiserverIdentity, string]> = [];
    const auth = createHttpAuthenticator<string>({
      ...options,
      onVerified: (id, req) => void calls.push([id, req]),
    });
    try {
      expect(auth.ownsVerifier).toBe(true);
      expect(auth.respond).toBe('http');
      const outcome = await auth.authenticate({ headers: bearer(await sign()) }, 'the-request');
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) return;
      expect(outcome.identity.username).toBe('system:serviceaccount:kube-system:webhook-auth');
      expect(calls).toEqual([[outcome.identity, 'the-request']]);
    } finally {
      await auth.close();
    }
  });

  it('renders a rejection, tells onRejected, and survives a throwing onRejected', async () => {
    const seen: unknown[] = [];
    const auth = createHttpAuthenticator({
      ...options,
      onRejected: (error) => {
        seen.push(error);
        throw new Error('observer bug');
      },
    });
    try {
      const token = await sign({ aud: ['https://elsewhere.example'] });
      const outcome = await auth.authenticate({ headers: bearer(token) }, undefined);
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.response.status).toBe(401);
      expect(outcome.response.body).toMatchObject({ error: 'audience_mismatch' });
      expect(seen).toEqual([outcome.error]);
      expect(JSON.stringify(outcome.response)).not.toContain(token);
    } finally {
      await auth.close();
    }
  });

  it('turns an ApiserverTokenError from onVerified into its status, anything else into a generic 503', async () => {
    const forbidding = createHttpAuthenticator({
      ...options,
      onVerified: async () => {
        throw new ForbiddenIdentityError('not allowed');
      },
    });
    const crashing = createHttpAuthenticator({
      ...options,
      onVerified: () => {
        throw new RangeError('internal detail');
      },
    });
    try {
      const token = await sign();
      const forbidden = await forbidding.authenticate({ headers: bearer(token) }, undefined);
      expect(!forbidden.ok && forbidden.response.status).toBe(403);
      const crashed = await crashing.authenticate({ headers: bearer(token) }, undefined);
      expect(!crashed.ok && crashed.response).toMatchObject({
        status: 503,
        headers: { 'retry-after': '5' },
        body: { error: 'temporarily_unavailable' },
      });
      expect(JSON.stringify(crashed)).not.toContain('internal detail');
    } finally {
      await forbidding.close();
      await crashing.close();
    }
  });

  it("answers AdmissionReviews with a denial in 'admission-review' mode, other bodies with HTTP", async () => {
    const auth = createHttpAuthenticator({ ...options, respond: 'admission-review' });
    try {
      const denied = await auth.authenticate({ headers: {}, body: review }, undefined);
      expect(!denied.ok && denied.response).toMatchObject({
        status: 200,
        body: { response: { uid: 'r-1', allowed: false, status: { code: 401 } } },
      });
      const plain = await auth.authenticate({ headers: {}, body: undefined }, undefined);
      expect(!plain.ok && plain.response.status).toBe(401);
    } finally {
      await auth.close();
    }
  });

  it('reads respond from APISERVER_TOKEN_RESPOND; an explicit option wins', async () => {
    const fromEnv = createHttpAuthenticator({
      ...options,
      env: { APISERVER_TOKEN_RESPOND: 'admission-review' },
    });
    const explicit = createHttpAuthenticator({
      ...options,
      respond: 'http',
      env: { APISERVER_TOKEN_RESPOND: 'admission-review' },
    });
    expect(fromEnv.respond).toBe('admission-review');
    expect(explicit.respond).toBe('http');
    await fromEnv.close();
    await explicit.close();
  });

  it('borrows a shared verifier and never closes it', async () => {
    const verifier = createVerifier(options);
    const auth = createHttpAuthenticator({ verifier });
    try {
      expect(auth.verifier).toBe(verifier);
      expect(auth.ownsVerifier).toBe(false);
      await auth.close();
      await auth.close();
      const outcome = await auth.authenticate({ headers: bearer(await sign()) }, undefined);
      expect(outcome.ok).toBe(true);
    } finally {
      await verifier.close();
    }
  });

  it('closes its own verifier once, however often close() is called', async () => {
    const auth = createHttpAuthenticator(options);
    const first = auth.close();
    expect(auth.close()).toBe(first);
    await first;
  });

  it('fails at construction on bad settings, naming the field', () => {
    const fieldOf = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(ApiserverTokenConfigError);
        return (error as ApiserverTokenConfigError).field;
      }
      return 'no error';
    };
    // @ts-expect-error: not a respond mode
    expect(fieldOf(() => createHttpAuthenticator({ ...options, respond: 'json' }))).toBe('respond');
    expect(
      fieldOf(() => createHttpAuthenticator({ ...options, env: { APISERVER_TOKEN_RESPOND: 'x' } })),
    ).toBe('respond');
    // @ts-expect-error: not a function
    expect(fieldOf(() => createHttpAuthenticator({ ...options, onVerified: 'log' }))).toBe('onVerified');
    // @ts-expect-error: not a function
    expect(fieldOf(() => createHttpAuthenticator({ ...options, onRejected: 1 }))).toBe('onRejected');
    expect(fieldOf(() => createHttpAuthenticator({ audience: undefined, env: {}, inCluster: false }))).toBe(
      'audience',
    );
    // @ts-expect-error: not an options object
    expect(fieldOf(() => createHttpAuthenticator('https://a.example'))).toBe('options');
  });
});

describe('resolveVerifier', () => {
  it('creates a verifier from options, or returns the one given', async () => {
    const made = resolveVerifier(undefined, options);
    expect(typeof made.verify).toBe('function');
    expect(resolveVerifier(made)).toBe(made);
    await made.close();
  });

  it('refuses a verifier combined with verifier options, and things that are not verifiers', async () => {
    const verifier = createVerifier(options);
    try {
      expect(() => resolveVerifier(verifier, { audience: AUDIENCE })).toThrowError(
        /invalid option `audience`: cannot be combined with `verifier`/,
      );
      // undefined values are "not set": spreading partial options is common.
      expect(resolveVerifier(verifier, { audience: undefined })).toBe(verifier);
      const notAVerifier = { verify: () => Promise.reject(new InvalidSignatureError('x')) };
      // @ts-expect-error: not a verifier
      expect(() => resolveVerifier(notAVerifier)).toThrow(ApiserverTokenConfigError);
    } finally {
      await verifier.close();
    }
  });
});
