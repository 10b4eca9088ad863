import type { Diagnostic } from './diagnostics.js';

/**
 * What an operator must do when apiserver reviews (TokenReview, SubjectAccessReview) cannot be
 * made at all: our credentials refused, the permission missing, or the client unusable.
 */
export function diagnoseReviewFailure(
  reason: string,
  status: number | undefined,
  what: 'TokenReview' | 'SubjectAccessReview' = 'TokenReview',
): Diagnostic {
  const base = { code: 'APISERVER_TOKEN_TOKENREVIEW' as const, scope: what, level: 'error' as const };
  const message = `${what}s cannot be made: ${reason}`;
  if (status === 403) {
    return {
      ...base,
      cause: 'forbidden',
      message,
      fix:
        `the verifier's credentials may not create ${what.toLowerCase()}s: bind the ClusterRole system:auth-delegator ` +
        'to them (kubectl create clusterrolebinding <name> --clusterrole=system:auth-delegator --serviceaccount=<namespace>:<name>)',
    };
  }
  if (status === 401) {
    return {
      ...base,
      cause: 'unauthorized',
      message,
      fix: "the apiserver does not accept the verifier's credentials: check `kubeconfig` (or APISERVER_TOKEN_KUBECONFIG) and that its token or certificate is current",
    };
  }
  if (/needs Node\.js/.test(reason)) {
    return {
      ...base,
      cause: 'node-version',
      message,
      fix: 'run on Node.js >= 22.19, or install @kubernetes/client-node@1',
    };
  }
  if (/not installed/.test(reason)) {
    return { ...base, cause: 'not-installed', message, fix: 'npm install @kubernetes/client-node' };
  }
  return {
    ...base,
    cause: 'client-unusable',
    message,
    fix: 'check `kubeconfig` (or APISERVER_TOKEN_KUBECONFIG) and the @kubernetes/client-node installation',
  };
}
