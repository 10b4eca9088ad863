import { existsSync } from 'node:fs';
import type { InClusterOptions } from '../options.js';

/** The standard locations of a pod's service-account credentials and of the in-cluster apiserver. */
export const IN_CLUSTER_DEFAULTS: Required<InClusterOptions> = {
  tokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  caPath: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
  url: 'https://kubernetes.default.svc',
};

/** The in-cluster locations when this process runs in a pod, else undefined. */
export function detectInCluster(
  options: InClusterOptions | false | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Required<InClusterOptions> | undefined {
  if (options === false) return undefined;
  const settings = { ...IN_CLUSTER_DEFAULTS, ...options };
  if (!env.KUBERNETES_SERVICE_HOST || !existsSync(settings.tokenPath)) return undefined;
  return settings;
}
