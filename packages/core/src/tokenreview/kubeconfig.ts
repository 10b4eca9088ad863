import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter } from 'node:path';
import { ApiserverTokenConfigError } from '../errors.js';
import { type ClientNodeModule, clientNodeYamlParser, type KubeConfigLike } from './client-node.js';

/** Where TokenReview credentials come from: a `KubeConfig`, a kubeconfig path, `'in-cluster'`, or the default rules. */
export type KubeconfigSource = KubeConfigLike | string | undefined;

/** The pod's service-account files and apiserver address (the in-cluster defaults). */
export interface InClusterLocations {
  tokenPath: string;
  caPath: string;
  /** The apiserver URL; default from `KUBERNETES_SERVICE_HOST`/`_PORT`, else `https://kubernetes.default.svc`. */
  url?: string;
}

export const DEFAULT_IN_CLUSTER: InClusterLocations = {
  tokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  caPath: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
};

export function isKubeConfigLike(value: unknown): value is KubeConfigLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as KubeConfigLike).makeApiClient === 'function' &&
    typeof (value as KubeConfigLike).getCurrentCluster === 'function'
  );
}

/**
 * Construction-time checks of the `kubeconfig` option: a path must name a file that parses (with
 * client-node's own YAML parser) and whose current context has an https:// server, so that a
 * broken kubeconfig fails here like a missing one, not as 503s on the first requests.
 */
export function validateKubeconfigSource(value: unknown, field = 'kubeconfig'): KubeconfigSource {
  if (value === undefined || value === 'in-cluster' || isKubeConfigLike(value)) return value;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ApiserverTokenConfigError(
      field,
      "expected a KubeConfig instance, a kubeconfig file path or 'in-cluster'",
    );
  }
  if (!existsSync(value)) {
    throw new ApiserverTokenConfigError(field, `the kubeconfig file ${JSON.stringify(value)} does not exist`);
  }
  checkKubeconfigFile(value, field);
  return value;
}

/** Refuses a kubeconfig file that client-node would fail to load or would point at no https:// apiserver. */
function checkKubeconfigFile(path: string, field: string): void {
  const parse = clientNodeYamlParser();
  if (parse === undefined) return;
  const name = JSON.stringify(path);
  let text: string;
  let document: unknown;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ApiserverTokenConfigError(
      field,
      `cannot read the kubeconfig file ${name}: ${(error as Error).message}`,
    );
  }
  try {
    document = parse(text);
  } catch (error) {
    // js-yaml's message quotes the lines around the error, and a kubeconfig holds tokens and
    // keys: only the reason and the position are repeated.
    const { reason, mark } = error as { reason?: unknown; mark?: { line?: unknown; column?: unknown } };
    const where =
      typeof mark?.line === 'number' && typeof mark.column === 'number'
        ? ` at line ${mark.line + 1}, column ${mark.column + 1}`
        : '';
    throw new ApiserverTokenConfigError(
      field,
      `the kubeconfig file ${name} does not parse as YAML (${typeof reason === 'string' ? reason : 'syntax error'}${where}): ` +
        `fix it (\`kubectl config view --kubeconfig ${path}\` shows the same error), or point ${field} at another file`,
    );
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ApiserverTokenConfigError(
      field,
      `the kubeconfig file ${name} is not a kubeconfig (a YAML mapping with clusters, contexts, users and current-context): ` +
        `it holds ${document === null || document === undefined ? 'nothing' : Array.isArray(document) ? 'a list' : `a ${typeof document}`}`,
    );
  }
  const server = currentServer(document as Record<string, unknown>);
  if (!server?.startsWith('https://')) {
    throw new ApiserverTokenConfigError(field, noUsableServer(server, `in ${name}`));
  }
}

/** The server of the current context's cluster, as client-node's `getCurrentCluster()` finds it. */
function currentServer(document: Record<string, unknown>): string | undefined {
  const named = (list: unknown, name: unknown): Record<string, unknown> | undefined =>
    Array.isArray(list)
      ? (list.find((entry) => isObject(entry) && entry.name === name) as Record<string, unknown> | undefined)
      : undefined;
  const context = named(document.contexts, document['current-context'])?.context;
  if (!isObject(context)) return undefined;
  const cluster = named(document.clusters, context.cluster)?.cluster;
  return isObject(cluster) && typeof cluster.server === 'string' ? cluster.server : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function noUsableServer(server: string | null | undefined, where: string): string {
  return (
    `no usable apiserver ${where} (current cluster server: ${JSON.stringify(server ?? null)}); set \`kubeconfig\` ` +
    "(or APISERVER_TOKEN_KUBECONFIG) to a kubeconfig path or 'in-cluster', with an https:// server"
  );
}

function inClusterUrl(
  locations: InClusterLocations,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (locations.url !== undefined) return locations.url;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === '') return 'https://kubernetes.default.svc';
  return `https://${isIPv6(host) ? `[${host}]` : host}${port ? `:${port}` : ''}`;
}

/**
 * The same shape `KubeConfig.loadFromCluster()` builds, with injectable paths: client-node's
 * `tokenFile` auth provider re-reads the token file (every 60 s in client-node 1.x, as
 * client-go), so the rotating projected token is never pinned for the life of the process.
 */
function loadInCluster(
  config: InstanceType<ClientNodeModule['KubeConfig']>,
  locations: InClusterLocations,
  env: Readonly<Record<string, string | undefined>>,
): void {
  config.loadFromOptions({
    clusters: [
      {
        name: 'inCluster',
        server: inClusterUrl(locations, env),
        caFile: locations.caPath,
        skipTLSVerify: false,
      },
    ],
    users: [
      {
        name: 'inClusterUser',
        authProvider: { name: 'tokenFile', config: { tokenFile: locations.tokenPath } },
      },
    ],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
    currentContext: 'inClusterContext',
  });
}

/**
 * A `KubeConfig` for the TokenReview client. Without a source: the first file of `KUBECONFIG`,
 * else in-cluster when the pod's token file exists, else client-node's default rules
 * (`~/.kube/config`).
 */
export function resolveKubeConfig(
  module: ClientNodeModule,
  source: KubeconfigSource,
  inCluster: InClusterLocations | false,
  env: Readonly<Record<string, string | undefined>>,
): KubeConfigLike {
  if (isKubeConfigLike(source)) return checked(source);
  const config = new module.KubeConfig();
  if (source === 'in-cluster') {
    if (inCluster === false)
      throw new ApiserverTokenConfigError('kubeconfig', "'in-cluster' while `inCluster` is false");
    loadInCluster(config, inCluster, env);
    return checked(config);
  }
  if (typeof source === 'string') {
    try {
      config.loadFromFile(source);
    } catch (error) {
      throw new ApiserverTokenConfigError(
        'kubeconfig',
        `cannot load ${JSON.stringify(source)}: ${(error as Error).message}`,
      );
    }
    return checked(config);
  }
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).find((file) => file !== '');
  if (fromEnv !== undefined) return resolveKubeConfig(module, fromEnv, inCluster, env);
  if (inCluster !== false && existsSync(inCluster.tokenPath)) {
    loadInCluster(config, inCluster, env);
    return checked(config);
  }
  config.loadFromDefault();
  return checked(config);
}

function checked(config: KubeConfigLike): KubeConfigLike {
  const server = config.getCurrentCluster()?.server;
  // client-node falls back to http://localhost:8080 when it finds nothing: never talk to that.
  if (typeof server !== 'string' || !server.startsWith('https://')) {
    throw new ApiserverTokenConfigError('kubeconfig', noUsableServer(server, 'in the kubeconfig'));
  }
  return config;
}
