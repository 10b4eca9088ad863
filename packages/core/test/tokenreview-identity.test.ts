import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TokenRejectedError } from '../src/errors.js';
import { readReviewStatus, tokenReviewBody } from '../src/tokenreview/review-result.js';
import { reviewedIdentity } from '../src/tokenreview/reviewed-identity.js';
import { identityFromReviewUser, parseServiceAccountUsername } from '../src/tokenreview/user-identity.js';

const FIXTURES = new URL('../../../test/fixtures/kube-apiserver-v1.28.4/', import.meta.url);
const fixture = (path: string) => JSON.parse(readFileSync(new URL(path, FIXTURES), 'utf8'));

describe('TokenReview user -> identity', () => {
  it('parses system:serviceaccount:<ns>:<name> and nothing else', () => {
    expect(parseServiceAccountUsername('system:serviceaccount:kube-system:webhook-auth')).toEqual({
      namespace: 'kube-system',
      name: 'webhook-auth',
    });
    for (const other of [
      'admin',
      'system:serviceaccount:',
      'system:serviceaccount:ns',
      'system:serviceaccount:ns:',
      'system:serviceaccount::name',
      'system:serviceaccount:a:b:c',
      'system:serviceaccounts:ns',
    ]) {
      expect(parseServiceAccountUsername(other)).toBeUndefined();
    }
  });

  it('a pod-bound token as the real apiserver reviews it (fixture)', () => {
    const { status } = fixture('tokenreviews/pod-bound--01-pod-exists.response.json');
    const identity = identityFromReviewUser(status.user);
    expect(identity).toEqual({
      username: 'system:serviceaccount:demo:webhook-client',
      uid: '55c8e47e-6b81-4f74-93af-700a4a0d235f',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:demo', 'system:authenticated'],
      extra: {
        'authentication.kubernetes.io/pod-name': ['p1'],
        'authentication.kubernetes.io/pod-uid': ['20bf01de-ceae-4872-b7ba-233ead1b5117'],
      },
      serviceAccount: {
        namespace: 'demo',
        name: 'webhook-client',
        uid: '55c8e47e-6b81-4f74-93af-700a4a0d235f',
      },
      boundObject: {
        kind: 'Pod',
        name: 'p1',
        uid: '20bf01de-ceae-4872-b7ba-233ead1b5117',
        namespace: 'demo',
      },
    });
  });

  it('a static-token user (admin) is a legitimate identity without a service account', () => {
    const { status } = fixture('tokenreviews/tokenreview--12-static-token-omitted.response.json');
    const identity = identityFromReviewUser(status.user);
    expect(identity).toEqual({
      username: 'admin',
      uid: 'admin-uid',
      groups: ['system:masters', 'system:authenticated'],
      extra: {},
    });
  });

  it('1.30+ extras: node, credential-id; KEP-6060 webhook configuration and attestations', () => {
    const identity = identityFromReviewUser({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      uid: 'sa-uid',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      extra: {
        'authentication.kubernetes.io/validatingwebhookconfiguration-name': ['my-webhook'],
        'authentication.kubernetes.io/validatingwebhookconfiguration-uid': ['vwc-uid'],
        'attestation.authentication.kubernetes.io/admissionReviewAPIGroups': ['apps'],
        'authentication.kubernetes.io/credential-id': ['JTI=abc'],
      },
    });
    expect(identity.boundObject).toEqual({
      kind: 'ValidatingWebhookConfiguration',
      name: 'my-webhook',
      uid: 'vwc-uid',
    });
    expect(identity.attestations).toEqual({ admissionReviewAPIGroups: ['apps'] });
    expect(identity.extra['authentication.kubernetes.io/credential-id']).toEqual(['JTI=abc']);

    const podOnNode = identityFromReviewUser({
      username: 'system:serviceaccount:demo:app',
      extra: {
        'authentication.kubernetes.io/pod-name': ['p1'],
        'authentication.kubernetes.io/pod-uid': ['pod-uid'],
        'authentication.kubernetes.io/node-name': ['node-a'],
        'authentication.kubernetes.io/node-uid': ['node-uid'],
      },
    });
    expect(podOnNode.boundObject).toEqual({ kind: 'Pod', name: 'p1', uid: 'pod-uid', namespace: 'demo' });
    expect(podOnNode.node).toEqual({ name: 'node-a', uid: 'node-uid' });

    const nodeBound = identityFromReviewUser({
      username: 'system:serviceaccount:demo:app',
      extra: { 'authentication.kubernetes.io/node-name': ['node-a'] },
    });
    expect(nodeBound.boundObject).toEqual({ kind: 'Node', name: 'node-a' });
    expect(nodeBound.node).toEqual({ name: 'node-a' });

    const mutating = identityFromReviewUser({
      username: 'system:serviceaccount:kube-system:webhook-auth',
      extra: {
        'authentication.kubernetes.io/mutatingwebhookconfiguration-name': ['m'],
        'attestation.authentication.kubernetes.io/admissionReviewAPIGroups': ['*'],
      },
    });
    expect(mutating.boundObject).toEqual({ kind: 'MutatingWebhookConfiguration', name: 'm' });
    expect(mutating.attestations).toEqual({ admissionReviewAPIGroups: ['*'] });
  });

  it('ignores malformed extra values instead of trusting them', () => {
    const identity = identityFromReviewUser({
      username: 'u',
      groups: ['g', 3 as unknown as string],
      extra: { good: ['a'], bad: 'x' as unknown as string[] },
    });
    expect(identity.groups).toEqual(['g']);
    expect(identity.extra).toEqual({ good: ['a'] });
  });
});

describe('reading a TokenReview status', () => {
  it('accepts only authenticated === true with an audience overlap', () => {
    const { status } = fixture('tokenreviews/tokenreview--04-aud-multi.response.json');
    const accepted = readReviewStatus(status, ['https://other.example', 'https://webhook.example']);
    expect(accepted.audiences).toEqual(['https://webhook.example']);

    expect(() => readReviewStatus(status, ['https://other.example'])).toThrow(TokenRejectedError);
    expect(() => readReviewStatus({ ...status, audiences: undefined }, ['https://webhook.example'])).toThrow(
      TokenRejectedError,
    );
    expect(() => readReviewStatus({ ...status, authenticated: 'true' as unknown as boolean }, ['x'])).toThrow(
      TokenRejectedError,
    );
    expect(() => readReviewStatus(undefined, ['x'])).toThrow(TokenRejectedError);
  });

  it('a rejection has authenticated absent, and its error goes to the message only', () => {
    const { status } = fixture('tokenreviews/tokenreview--02-aud-nomatch.response.json');
    expect(status.authenticated).toBeUndefined();
    let caught: unknown;
    try {
      readReviewStatus(status, ['https://other.example']);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TokenRejectedError);
    expect((caught as Error).message).toContain('is invalid for the target audiences');
    expect(JSON.stringify(caught)).not.toContain('target audiences');
  });

  it('builds the request as kubectl/curl did for the recordings', () => {
    expect(tokenReviewBody('tok', ['https://webhook.example'])).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: 'tok', audiences: ['https://webhook.example'] },
    });
    const recorded = fixture('tokenreviews/tokenreview--01-aud-match.request.json');
    expect(tokenReviewBody(recorded.spec.token, recorded.spec.audiences)).toEqual(recorded);
  });
});

describe('merging a review with what the token says', () => {
  const claims = fixture('tokens/secret-bound.json').claims;
  const prechecked = {
    header: {},
    claims,
    alg: 'RS256',
    kid: undefined,
    signingInput: '',
    signature: Buffer.alloc(0),
    issuer: claims.iss,
    audiences: ['https://webhook.example'],
    legacy: false,
  };
  const accepted = readReviewStatus(fixture('tokenreviews/pod-bound--07-secret-bound.response.json').status, [
    'https://webhook.example',
  ]);

  it('tokenreview mode: the Secret binding and times come from the authenticated JWT', () => {
    const identity = reviewedIdentity(accepted, prechecked, undefined);
    expect(identity.username).toBe('system:serviceaccount:demo:webhook-client');
    expect(identity.boundObject).toEqual({
      kind: 'Secret',
      name: 'bindme',
      uid: 'c8418f43-fc11-42ef-b376-70afed033472',
      namespace: 'demo',
    });
    expect(identity.issuer).toBe('https://127.0.0.1:6443');
    expect(identity.expiresAt).toEqual(new Date(claims.exp * 1000));
    expect(identity.issuedAt).toEqual(new Date(claims.iat * 1000));
    expect(identity.audiences).toEqual(['https://webhook.example']);
  });

  it('claims naming another user than the apiserver are not trusted beyond their times', () => {
    const other = {
      ...accepted,
      identity: { ...accepted.identity, username: 'admin', serviceAccount: undefined },
    };
    const identity = reviewedIdentity(other, prechecked, undefined);
    expect(identity.username).toBe('admin');
    expect(identity.boundObject).toBeUndefined();
    expect(identity.serviceAccount).toBeUndefined();
    expect(identity.expiresAt).toEqual(new Date(claims.exp * 1000));
  });

  it('opaque tokens: the identity is what TokenReview says', () => {
    const identity = reviewedIdentity(accepted, undefined, undefined);
    expect(identity.issuer).toBeUndefined();
    expect(identity.expiresAt).toBeUndefined();
    expect(identity.serviceAccount?.name).toBe('webhook-client');
  });
});
