import {
  ApiException,
  type AuthenticationV1TokenRequest,
  CoreV1Api,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { TokenRequestError, type TokenRequester, type TokenRequestSpec } from './token-request-types.js';

/** Where the credentials come from. */
export interface TokenRequesterOptions {
  /** A kubeconfig file; default: `KUBECONFIG`, then in-cluster, then `~/.kube/config` (client-node's `loadFromDefault`). */
  kubeconfig?: string;
  /** A context of the kubeconfig other than its current one. */
  context?: string;
  /** One request, connection to last byte, in ms. */
  timeoutMs: number;
}

const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';

/** The message of a Kubernetes `Status` body, if the body is one. */
function statusMessage(body: unknown): string | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const status = value as { kind?: unknown; message?: unknown; reason?: unknown } | null;
  if (status?.kind !== 'Status' || typeof status.message !== 'string') return undefined;
  return typeof status.reason === 'string' && status.reason !== ''
    ? `${status.reason}: ${status.message}`
    : status.message;
}

function describeFailure(error: unknown, spec: TokenRequestSpec): TokenRequestError {
  const target = `serviceaccounts/${spec.serviceAccount} in ${spec.namespace}`;
  if (error instanceof ApiException) {
    const code = error.code;
    const message = statusMessage(error.body) ?? `HTTP ${code}`;
    // 400/422: the request itself is wrong (duration, binding kind unknown to this apiserver, …):
    // asking again cannot help. 401/403/404/409 can be fixed on the cluster side while we retry.
    return new TokenRequestError(
      `TokenRequest for ${target} answered ${code}: ${message}`,
      code,
      code === 400 || code === 422,
      {
        cause: error,
      },
    );
  }
  const cause = error as { name?: string; message?: string; code?: string };
  const reason =
    cause?.name === 'AbortError' || cause?.name === 'TimeoutError'
      ? 'timed out'
      : (cause?.message ?? String(error));
  return new TokenRequestError(`TokenRequest for ${target} failed: ${reason}`, undefined, false, {
    cause: error,
  });
}

/** Loads credentials as kubectl would, honouring `kubeconfig` and `context`. */
export function loadKubeConfig(options: Pick<TokenRequesterOptions, 'kubeconfig' | 'context'>): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context !== undefined) kc.setCurrentContext(options.context);
  if (kc.getCurrentCluster() === null) {
    throw new TokenRequestError(
      'no cluster to ask: give --kubeconfig, set KUBECONFIG, or run in a pod with a service account',
      undefined,
      true,
    );
  }
  return kc;
}

/**
 * A TokenRequester on `@kubernetes/client-node` (`POST …/serviceaccounts/<name>/token`). The
 * generated client only serialises fields it knows, so a KEP-6060 request's `spec.attestations`
 * (Kubernetes 1.37+) is added to the JSON body by a middleware; every request gets a timeout.
 */
export function createTokenRequester(options: TokenRequesterOptions): TokenRequester {
  const api = loadKubeConfig(options).makeApiClient(CoreV1Api);
  return async (spec) => {
    const body: AuthenticationV1TokenRequest = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: [spec.audience],
        expirationSeconds: spec.expirationSeconds,
        ...(spec.binding
          ? {
              boundObjectRef: {
                apiVersion: ADMISSION_API_VERSION,
                kind: spec.binding.kind,
                name: spec.binding.name,
              },
            }
          : {}),
      },
    };
    const middleware: ObservableMiddleware = {
      pre: (context: RequestContext) => {
        context.setSignal(AbortSignal.timeout(options.timeoutMs));
        if (spec.binding) {
          const json = JSON.parse(String(context.getBody())) as { spec: Record<string, unknown> };
          json.spec.attestations = { admissionReviewAPIGroups: [spec.binding.apiGroup] };
          context.setBody(JSON.stringify(json));
        }
        return new Observable(Promise.resolve(context));
      },
      post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
    };
    let answer: AuthenticationV1TokenRequest;
    try {
      answer = await api.createNamespacedServiceAccountToken(
        { name: spec.serviceAccount, namespace: spec.namespace, body },
        { middleware: [middleware], middlewareMergeStrategy: 'append' },
      );
    } catch (error) {
      throw describeFailure(error, spec);
    }
    const token = answer.status?.token;
    const expiration = answer.status?.expirationTimestamp;
    return {
      token: typeof token === 'string' ? token : '',
      ...(expiration instanceof Date && !Number.isNaN(expiration.getTime())
        ? { expirationTimestamp: expiration }
        : {}),
    };
  };
}
