import type { Diagnostics } from '../diagnostics/diagnostics.js';
import { diagnoseReviewFailure } from '../diagnostics/review-diagnosis.js';
import { ApiserverUnavailableError } from '../errors.js';
import { classifyAttemptFailure } from './attempt-failure.js';
import type { ClientNodeModule, KubeConfigLike } from './client-node.js';
import { type HttpsOptionsSource, SharedAgent } from './shared-agent.js';
import { timedCall } from './timed-call.js';
import { type AbortableCallOptions, abortableCallOptions } from './transport.js';

interface SelfReviewApiLike {
  createSelfSubjectAccessReview(
    param: { body: unknown },
    options?: AbortableCallOptions,
  ): Promise<{ status?: { allowed?: boolean; reason?: string } }>;
}

/** The review kinds whose creation `ready()` checks. */
export type ReviewResource = 'tokenreviews' | 'subjectaccessreviews';

const GROUPS: Record<ReviewResource, string> = {
  tokenreviews: 'authentication.k8s.io',
  subjectaccessreviews: 'authorization.k8s.io',
};
const WHAT: Record<ReviewResource, 'TokenReview' | 'SubjectAccessReview'> = {
  tokenreviews: 'TokenReview',
  subjectaccessreviews: 'SubjectAccessReview',
};

/**
 * Readiness of the apiserver calls: asks the apiserver, with our own credentials, whether they may
 * create `resource` (a SelfSubjectAccessReview, which every authenticated user may make). Resolves
 * when the apiserver answered yes; rejects with a 503 error — and reports the condition once, with
 * the fix — when it is down, refuses our credentials, or answers no.
 */
export async function assertMayCreate(
  module: ClientNodeModule,
  config: KubeConfigLike,
  resource: ReviewResource,
  settings: { timeout: number; now: () => number; diagnostics: Diagnostics | undefined },
): Promise<void> {
  const what = WHAT[resource];
  const fail = (reason: string, status: number | undefined): never => {
    const diagnostic = diagnoseReviewFailure(reason, status, what);
    settings.diagnostics?.report(diagnostic);
    // The fix in the rejection too: a startup script awaiting ready() may be all an operator reads.
    const fix = diagnostic.fix === undefined ? '' : ` (fix: ${diagnostic.fix})`;
    throw new ApiserverUnavailableError(`not ready: ${reason}${fix}`, { retryAfter: 5 });
  };
  if (typeof module.AuthorizationV1Api !== 'function') {
    return fail('@kubernetes/client-node does not export AuthorizationV1Api', undefined);
  }
  const api = config.makeApiClient(module.AuthorizationV1Api as never) as SelfReviewApiLike;
  const body = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { group: GROUPS[resource], resource, verb: 'create' } },
  };
  // A keep-alive agent of our own, closed once the probe is answered: left to client-node, the
  // probe's connection (an undici dispatcher in 2.x) would outlive verifier.close().
  const agent = new SharedAgent();
  agent.useKubeConfig(config as HttpsOptionsSource);
  let allowed: boolean | undefined;
  try {
    const answer = await timedCall(
      (signal) => api.createSelfSubjectAccessReview({ body }, abortableCallOptions(signal, agent)),
      settings.timeout,
      new AbortController().signal,
    );
    allowed = answer.status?.allowed;
  } catch (error) {
    const failure = classifyAttemptFailure(error, settings.now(), what);
    return fail(failure.reason, failure.status);
  } finally {
    agent.close();
  }
  if (allowed !== true) {
    fail(
      `the apiserver says our credentials may not create ${resource}.${GROUPS[resource]} (SelfSubjectAccessReview)`,
      403,
    );
  }
}
