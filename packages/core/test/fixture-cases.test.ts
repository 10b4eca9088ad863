import { describe, expect, it } from 'vitest';
import { createVerifier, isApiserverTokenError, type JsonWebKeySet } from '../src/index.js';
import {
  FIXTURE_ISSUER,
  type FixtureCase,
  fixtureJson,
  fixturePath,
  fixtureText,
} from './helpers/fixtures.js';

const { cases } = fixtureJson<{ cases: FixtureCase[] }>('cases.json');
const jwks = fixtureJson<JsonWebKeySet>('discovery/jwks.json');

// The verdicts recorded for a local JWKS verifier; prose reasons name the codes they allow.
const NOT_OURS = ['unknown_issuer', 'malformed_token', 'legacy_token'];

const heldKids = new Set(jwks.keys.map((key) => key.kid));

/**
 * The recorded local reason, except that a token whose `kid` no key has is now `unknown_key`:
 * only keys of that id are tried, as kube-apiserver 1.32+ does (v1.36.3 answers "invalid
 * signature, no keys found" there; v1.28.4 still tried every key).
 */
function expectedCode(c: FixtureCase): string {
  const header = JSON.parse(Buffer.from(c.token.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
    kid?: string;
  };
  if (c.local.reason === 'invalid_signature' && header.kid !== undefined && !heldKids.has(header.kid))
    return 'unknown_key';
  return c.local.reason;
}

function verifierAt(at: string, audiences: string[]) {
  let now = Date.parse(at);
  const verifier = createVerifier({
    audience: audiences,
    issuer: FIXTURE_ISSUER,
    jwks: { keys: jwks },
    clockTolerance: 60,
    now: () => now,
    env: {},
  });
  return { verifier, setNow: (ms: number) => (now = ms) };
}

describe('recorded kube-apiserver v1.28.4 cases (static JWKS)', () => {
  it('has the cases', () => {
    expect(cases.length).toBeGreaterThan(30);
  });

  for (const c of cases) {
    it(`${c.id}: ${c.local.verdict} ${c.local.reason}`, async () => {
      const { verifier } = verifierAt(c.at, c.audiences);
      const outcome = await verifier.verify({ headers: { authorization: `Bearer ${c.token}` } }).then(
        (identity) => ({ identity }),
        (error: unknown) => ({ error }),
      );
      if (c.local.verdict === 'accept') {
        expect(outcome).toHaveProperty('identity');
        const { identity } = outcome as { identity: Awaited<ReturnType<typeof verifier.verify>> };
        expect(identity.verifiedBy).toBe('jwks');
        expect(identity.issuer).toBe(FIXTURE_ISSUER);
        // Where the apiserver authenticated the token, our identity matches its user exactly.
        if (c.tokenReview.authenticated) {
          expect(identity.username).toBe(c.tokenReview.user.username);
          expect(identity.uid).toBe(c.tokenReview.user.uid);
          expect(identity.groups).toEqual(c.tokenReview.user.groups);
        }
      } else {
        expect(outcome).toHaveProperty('error');
        const { error } = outcome as { error: unknown };
        expect(isApiserverTokenError(error)).toBe(true);
        const code = (error as { code: string }).code;
        if (c.local.reason === 'not a token of this issuer') expect(NOT_OURS).toContain(code);
        else expect(code).toBe(expectedCode(c));
        expect((error as { status: number }).status).toBe(401);
      }
      await verifier.close();
    });
  }

  it('gives the specific codes for the not-ours cases', async () => {
    const byId = new Map(cases.map((c) => [c.id, c]));
    const expectations: Record<string, string> = {
      'tokenreview/08-garbage': 'malformed_token',
      'tokenreview/09-garbage-3parts': 'malformed_token',
      'tokenreview/11-static-token-webhookaud': 'malformed_token',
      'tokenreview/2x-forged-wrong-issuer': 'unknown_issuer',
      'legacy-secret-token/01-legacy-aud-omitted': 'legacy_token',
    };
    for (const [id, code] of Object.entries(expectations)) {
      const c = byId.get(id) as FixtureCase;
      const { verifier } = verifierAt(c.at, c.audiences);
      await expect(verifier.verifyToken(c.token)).rejects.toMatchObject({ code });
    }
  });

  it('reads the static JWKS from a file path too', async () => {
    const c = cases.find((item) => item.id === 'tokenreview/01-aud-match') as FixtureCase;
    const verifier = createVerifier({
      audience: c.audiences,
      issuer: FIXTURE_ISSUER,
      jwks: { keys: fixturePath('discovery/jwks.json') },
      now: () => Date.parse(c.at),
      env: {},
    });
    await verifier.ready();
    await expect(verifier.verifyToken(c.token)).resolves.toMatchObject({
      username: 'system:serviceaccount:demo:webhook-client',
    });
  });

  it('verifies the token of the real admission call', async () => {
    const call = JSON.parse(fixtureText('webhook/admission-request.json')) as {
      headers: Record<string, string>;
      receivedAt: string;
    };
    const verifier = createVerifier({
      audience: 'https://127.0.0.1:8443',
      issuer: FIXTURE_ISSUER,
      jwks: { keys: jwks },
      now: () => Date.parse(call.receivedAt),
      env: {},
    });
    const identity = await verifier.verify({ headers: call.headers });
    expect(identity.username).toBe('system:serviceaccount:webhook-test:apiserver-webhook-caller');
    expect(identity.audiences).toEqual(['https://127.0.0.1:8443']);
  });
});
