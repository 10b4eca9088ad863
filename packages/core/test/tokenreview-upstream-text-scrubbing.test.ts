import { afterEach, describe, expect, it } from 'vitest';
import { type ApiserverTokenVerifier, createVerifier, type VerifierOptions } from '../src/index.js';
import { REDACTED, scrubUpstreamText } from '../src/lib/scrub.js';
import { kubeClaims, makeKey, signJwt } from './helpers/keys.js';
import { type LogCall, recordingLogger } from './helpers/logger.js';
import {
  type ReceivedReview,
  type ReviewAnswer,
  type ReviewServer,
  reviewAnswer,
  SUBJECTACCESSREVIEW_PATH,
  startReviewServer,
} from './helpers/review-server.js';
import { call, startVerifyingServer, type VerifyingServer } from './helpers/verifying-server.js';

// Issue 8, item 8: an upstream text that quotes the token under review (an authenticator that
// echoes its input, a proxy's error page) must reach neither a log line, a process warning nor an
// error's message. Each case runs over real sockets: a verifying HTTP server, and the real
// @kubernetes/client-node talking to a TokenReview server on 127.0.0.1 that echoes the token.

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const key = makeKey('RS256');
const otherKey = makeKey('ES256');

const freshToken = (name = 'webhook-auth') =>
  signJwt(key, kubeClaims({ issuer: ISSUER, audiences: [AUDIENCE], nowSeconds: Date.now() / 1000, name }));
/** Another JWT the upstream text happens to quote (not the one under review). */
const bystander = signJwt(
  otherKey,
  kubeClaims({ issuer: ISSUER, audiences: ['https://elsewhere'], nowSeconds: 0 }),
);

/** Everything an upstream may say about the token: whole, its head cut short, its signature alone, another JWT. */
function echo(token: string): string {
  const signature = token.slice(token.lastIndexOf('.') + 1);
  return `invalid bearer token ${token}; head ${token.slice(0, 40)}...; signature ${signature}; seen ${bystander}`;
}

const echoedToken = (request: ReceivedReview): string =>
  (request.body as { spec: { token: string } }).spec.token;

/** A Kubernetes `Status` answer whose message echoes the token. */
function echoingStatus(code: number, request: ReceivedReview, padding = 0): ReviewAnswer {
  return {
    status: code,
    headers: { 'content-type': 'application/json' },
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `${'x'.repeat(padding)}${echo(echoedToken(request))}`,
      code,
    },
  };
}

/**
 * The pieces of `secret` found in `text`: every base64url run of 12 characters or more that the
 * secret contains (a whole token, a head cut by a length limit, a signature alone).
 */
function leaks(text: string, secrets: readonly string[]): string[] {
  return [...text.matchAll(/[A-Za-z0-9_-]{12,}/g)]
    .map((match) => match[0])
    .filter((run) => secrets.some((secret) => secret.includes(run)));
}

const warnings: string[] = [];
const onWarning = (warning: Error & { detail?: string }) => {
  warnings.push(`${warning.message} ${warning.detail ?? ''}`);
};

const servers: Array<ReviewServer | VerifyingServer> = [];
const verifiers: ApiserverTokenVerifier[] = [];
afterEach(async () => {
  process.off('warning', onWarning);
  warnings.length = 0;
  await Promise.all(verifiers.splice(0).map((verifier) => verifier.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function setup(
  handler: (request: ReceivedReview, index: number) => ReviewAnswer,
  options: Partial<VerifierOptions> = {},
) {
  const review = await startReviewServer(handler);
  servers.push(review);
  const verifier = createVerifier({
    audience: AUDIENCE,
    mode: 'tokenreview',
    kubeconfig: review.kubeconfigPath,
    inCluster: false,
    env: {},
    tokenReview: { retries: 1, backoff: { initial: 10, max: 20 } },
    ...options,
  });
  verifiers.push(verifier);
  const http = await startVerifyingServer(verifier);
  servers.push(http);
  return { review, verifier, http };
}

const logText = (calls: readonly LogCall[]) =>
  calls.map((entry) => `${entry.message} ${JSON.stringify(entry.object)}`).join('\n');

/** Sends `token` to the verifying server and returns what the verifier threw for it directly too. */
async function rejection(verifier: ApiserverTokenVerifier, token: string): Promise<Error> {
  return verifier.verifyToken(token).then(
    () => {
      throw new Error('the token was accepted');
    },
    (error: Error) => error,
  );
}

describe('upstream texts are scrubbed of the token before they are logged or put in an error', () => {
  it('a TokenReview answer whose status.error echoes the token (authenticated: false)', async () => {
    const logger = recordingLogger();
    const { http, verifier } = await setup(
      (request) => reviewAnswer({ authenticated: false, error: echo(echoedToken(request)) }),
      { logger },
    );
    const token = freshToken();
    const response = await call(http.url, token);
    expect(response.status).toBe(401);
    const error = await rejection(verifier, freshToken('other'));
    expect(error).toMatchObject({ code: 'token_rejected' });
    expect(error.message).toContain(REDACTED);
    expect(error.message).toContain('invalid bearer token');
    const logged = logText(logger.calls);
    expect(logged).toContain('token_rejected');
    expect(leaks(logged, [token, bystander])).toEqual([]);
    expect(leaks(error.message, [token, bystander])).toEqual([]);
    expect(leaks(JSON.stringify(response.body), [token])).toEqual([]);
  });

  it('an error status (400) whose message echoes the token, padded so that a length cut falls inside it', async () => {
    const logger = recordingLogger();
    const { verifier } = await setup((request) => echoingStatus(400, request, 250), { logger });
    const token = freshToken();
    const error = await rejection(verifier, token);
    expect(error).toMatchObject({ code: 'apiserver_unavailable', status: 503 });

    expect(error.message).toContain('HTTP 400');
    expect(leaks(error.message, [token, bystander])).toEqual([]);
    expect(leaks(logText(logger.calls), [token, bystander])).toEqual([]);
  });

  it('retried 5xx answers echoing the token: the retry log lines and the final 503', async () => {
    const logger = recordingLogger();
    const { verifier, review } = await setup((request) => echoingStatus(503, request), { logger });
    const token = freshToken();
    const error = await rejection(verifier, token);
    expect(error).toMatchObject({ code: 'apiserver_unavailable', status: 503 });
    expect(review.received).toHaveLength(2);
    expect(logger.count('retrying')).toBe(1);
    expect(leaks(`${error.message}\n${logText(logger.calls)}`, [token, bystander])).toEqual([]);
  });

  it('our credentials refused (401) with a message echoing the token: the diagnostic, through the logger', async () => {
    const logger = recordingLogger();
    const { verifier } = await setup((request) => echoingStatus(401, request), { logger });
    const token = freshToken();
    const error = await rejection(verifier, token);
    expect(error).toMatchObject({ code: 'apiserver_unavailable' });
    const logged = logText(logger.calls);
    expect(logged).toContain('system:auth-delegator');
    expect(leaks(`${error.message}\n${logged}`, [token, bystander])).toEqual([]);
  });

  it('our credentials refused (403) with a message echoing the token: the diagnostic, as a process warning', async () => {
    process.on('warning', onWarning);
    const { verifier } = await setup((request) => echoingStatus(403, request));
    const token = freshToken();
    const error = await rejection(verifier, token);
    expect(error).toMatchObject({ code: 'apiserver_unavailable' });
    // process.emitWarning is delivered on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.join('\n')).toContain('HTTP 403');
    expect(leaks(`${error.message}\n${warnings.join('\n')}`, [token, bystander])).toEqual([]);
  });

  it('health() reports the last failure scrubbed too', async () => {
    const { verifier } = await setup((request) => echoingStatus(500, request));
    const token = freshToken();
    await rejection(verifier, token);
    const health = JSON.stringify(verifier.health());
    expect(health).toContain('HTTP 500');
    expect(leaks(health, [token, bystander])).toEqual([]);
  });
});

describe('a SubjectAccessReview reason quoting a JWT', () => {
  it('is scrubbed from the 403 and its log line', async () => {
    const logger = recordingLogger();
    const token = freshToken();
    const { verifier } = await setup(
      (request) =>
        request.path === SUBJECTACCESSREVIEW_PATH
          ? {
              status: 201,
              headers: { 'content-type': 'application/json' },
              body: {
                kind: 'SubjectAccessReview',
                apiVersion: 'authorization.k8s.io/v1',
                spec: {},
                status: { allowed: false, reason: `webhook authorizer saw ${token} and ${bystander}` },
              },
            }
          : reviewAnswer({
              authenticated: true,
              audiences: [AUDIENCE],
              user: { username: 'system:serviceaccount:kube-system:webhook-auth', groups: [] },
            }),
      {
        logger,
        policy: {
          subjectAccessReview: {
            resourceAttributes: { verb: 'create', group: 'apps', resource: 'deployments' },
          },
        },
      },
    );
    const error = await rejection(verifier, token);
    expect(error).toMatchObject({ code: 'forbidden', status: 403 });
    expect(error.message).toContain('webhook authorizer saw [redacted]');
    expect(leaks(`${error.message}\n${logText(logger.calls)}`, [token, bystander])).toEqual([]);
  });
});

describe('scrubUpstreamText', () => {
  it('takes the token, long pieces of it and anything JWT-shaped, and leaves ordinary text alone', () => {
    const token = freshToken();
    const text = `a ${token} b ${token.slice(5, 30)} c ${bystander} d eyJhbGciOiJSUzI1NiJ9`;
    const scrubbed = scrubUpstreamText(text, [token]);
    expect(leaks(scrubbed, [token, bystander])).toEqual([]);
    expect(scrubbed).not.toContain('eyJhbGciOiJSUzI1NiJ9');
    expect(scrubbed.startsWith('a [redacted] b [redacted] c [redacted] d [redacted]')).toBe(true);
    const ordinary =
      'the apiserver answered HTTP 500 for system:serviceaccount:kube-system:webhook-auth at https://kubernetes.default.svc:443/apis (v1.36.0, uid 5a2f6c3e-0000-4000-8000-000000000001)';
    expect(scrubUpstreamText(ordinary, [token])).toBe(ordinary);
  });

  it('an opaque (non-JWT) token under review is taken wherever it appears', () => {
    const opaque = 'abcdef.0123456789abcdef';
    expect(scrubUpstreamText(`token "${opaque}" unknown`, [opaque])).toBe('token "[redacted]" unknown');
  });
});
