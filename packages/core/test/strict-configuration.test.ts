import { ApiserverTokenConfigError, createVerifier, type VerifierOptions } from '@apiserver-token/core';
import { verifyApiserverToken } from '@apiserver-token/express';
import { describe, expect, it } from 'vitest';
import { KNOWN_ENV } from '../src/config/known-options.js';
import { closest, editDistance } from '../src/lib/known-keys.js';

const base: VerifierOptions & { jwks: NonNullable<VerifierOptions['jwks']> } = {
  audience: 'https://my-webhook.my-ns.svc:443/validate',
  issuer: 'https://kubernetes.default.svc.cluster.local',
  jwks: {
    keys: {
      keys: [
        {
          kty: 'EC',
          crv: 'P-256',
          x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
          y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
        },
      ],
    },
  },
  inCluster: false,
  env: {},
};

/** The configuration error `make` throws (failing the test when it throws nothing). */
function refusal(make: () => unknown): ApiserverTokenConfigError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    return error as ApiserverTokenConfigError;
  }
  throw new Error('expected an ApiserverTokenConfigError');
}

const typo = (options: Record<string, unknown>) =>
  refusal(() => createVerifier({ ...base, ...options } as unknown as VerifierOptions));

describe('unknown options are refused at construction, with what was meant', () => {
  it.each([
    [
      { allowedServiceAccounts: ['kube-system:webhook-auth'] },
      'allowedServiceAccounts',
      '`policy.serviceAccounts`',
    ],
    [{ clockTolerence: 30 }, 'clockTolerence', '`clockTolerance`'],
    [{ loger: console }, 'loger', '`logger`'],
    [{ allowedCallers: ['x'] }, 'allowedCallers', '`policy.serviceAccounts`'],
    [{ audiences: ['x'] }, 'audiences', '`audience`'],
    [{ enforced: false }, 'enforced', '`enforce`'],
    [{ polcy: {} }, 'polcy', '`policy`'],
    [{ policy: { serviceAcounts: ['a:b'] } }, 'policy.serviceAcounts', '`policy.serviceAccounts`'],
    [
      { policy: { allowedServiceAccounts: ['a:b'] } },
      'policy.allowedServiceAccounts',
      '`policy.serviceAccounts`',
    ],
    [{ jwks: { ...base.jwks, ur1: 'x' } }, 'jwks.ur1', '`jwks.uri`'],
    [{ cache: { tll: 5 } }, 'cache.tll', '`cache.ttl`'],
    [{ inCluster: { tokenpath: '/x' } }, 'inCluster.tokenpath', '`inCluster.tokenPath`'],
    [{ admission: { respnd: 'http' } }, 'admission.respnd', '`admission.respond`'],
    [{ clientCertificate: { mod: 'accept' } }, 'clientCertificate.mod', '`clientCertificate.mode`'],
    [
      { policy: { subjectAccessReview: { allowedTTL: 5 } } },
      'policy.subjectAccessReview.allowedTTL',
      '`policy.subjectAccessReview.allowedTtl`',
    ],
  ])('%j', (options, field, meant) => {
    const error = typo(options);
    expect(error.field).toBe(field);
    expect(error.message).toContain(meant);
  });

  it('in tokenReview and its backoff, and in an issuers entry', () => {
    const review = (tokenReview: unknown) =>
      refusal(() =>
        createVerifier({
          audience: base.audience,
          mode: 'tokenreview',
          env: {},
          inCluster: false,
          tokenReview,
        } as never),
      );
    expect(review({ timout: 5 }).message).toContain('did you mean `tokenReview.timeout`?');
    expect(review({ backoff: { inital: 5 } }).message).toContain('`tokenReview.backoff.initial`');
    const issuers = typo({ issuers: [{ issuer: 'https://a.example', jwk: {} }] });
    expect(issuers.field).toBe('issuers[0].jwk');
    expect(issuers.message).toContain('`issuers[0].jwks`');
  });

  it('lists the known names when nothing is close', () => {
    expect(typo({ somethingElseEntirely: 1 }).message).toMatch(/unknown option \(known: audience, mode, /);
  });

  it('knows `enforce` and `metrics` (one option each of this issue)', () => {
    expect(() => createVerifier({ ...base, enforce: true }).close()).not.toThrow();
    expect(KNOWN_ENV).toContain('ENFORCE');
  });

  it('in the adapters too, adapter options included', () => {
    const express = (options: Record<string, unknown>) =>
      refusal(() => verifyApiserverToken({ ...base, ...options } as never));
    expect(express({ respnd: 'http' }).message).toContain('did you mean `respond`?');
    expect(express({ onRejcted: () => {} }).message).toContain('did you mean `onRejected`?');
    expect(express({ allowedServiceAccounts: ['a:b'] }).message).toContain('`policy.serviceAccounts`');
    // An adapter option given to core says so.
    expect(typo({ respond: 'http' }).message).toContain('adapter option');
  });
});

describe('unknown APISERVER_TOKEN_* variables are refused at construction', () => {
  it.each([
    ['APISERVER_TOKEN_AUDIANCE', 'APISERVER_TOKEN_AUDIENCE'],
    ['APISERVER_TOKEN_ALLOWED_SERVICEACCOUNTS', 'APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS'],
    ['APISERVER_TOKEN_ENFORCED', 'APISERVER_TOKEN_ENFORCE'],
    ['APISERVER_TOKEN_CLOCK_TOLERENCE', 'APISERVER_TOKEN_CLOCK_TOLERANCE'],
  ])('%s', (name, meant) => {
    const error = refusal(() => createVerifier({ ...base, env: { [name]: 'x' } }));
    expect(error.field).toBe(name);
    expect(error.message).toContain(`did you mean ${meant}?`);
  });

  it('leaves other variables alone and accepts every known one', () => {
    expect(() => createVerifier({ ...base, env: { HOME: '/root', APISERVER_TOKENS: 'x' } })).not.toThrow();
    for (const name of KNOWN_ENV) {
      // Known names may still fail on their value, never as unknown.
      try {
        createVerifier({ ...base, env: { [`APISERVER_TOKEN_${name}`]: 'x' } }).close();
      } catch (error) {
        expect((error as Error).message).not.toContain('unknown environment variable');
      }
    }
  });
});

describe('options that depend on another either work or fail at construction', () => {
  it("refuses tokenReview settings in mode 'jwks'", () => {
    expect(typo({ tokenReview: { timeout: 1000 } }).message).toContain(
      "only applies to mode 'tokenreview' or 'hybrid'",
    );
    const fromEnv = refusal(() =>
      createVerifier({ ...base, env: { APISERVER_TOKEN_TOKENREVIEW_TIMEOUT: '1000' } }),
    );
    expect(fromEnv.field).toBe('APISERVER_TOKEN_TOKENREVIEW_TIMEOUT');
  });
});

describe('did-you-mean', () => {
  it('measures transpositions as one edit and ignores case', () => {
    expect(editDistance('clockTolerence', 'clockTolerance')).toBe(1);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(editDistance('LOGGER', 'logger')).toBe(0);
    expect(closest('x', ['audience', 'mode'])).toBeUndefined();
  });
});
