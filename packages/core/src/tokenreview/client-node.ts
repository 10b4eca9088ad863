import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ApiserverTokenConfigError } from '../errors.js';

/** The optional peer dependency that talks to the apiserver. */
export const CLIENT_NODE = '@kubernetes/client-node';

/**
 * What we use of a `KubeConfig` from `@kubernetes/client-node` (1.x and 2.x share it). Any real
 * `KubeConfig` instance satisfies it; the type is structural so that core's public types do not
 * require the optional peer dependency to be installed.
 */
export interface KubeConfigLike {
  getCurrentCluster(): { readonly server: string } | null;
  makeApiClient(apiClientType: never): unknown;
}

/** The parts of the `@kubernetes/client-node` module we use; present in 1.x and 2.x. */
export interface ClientNodeModule {
  KubeConfig: new () => KubeConfigLike & {
    loadFromFile(file: string): void;
    loadFromDefault(): void;
    loadFromOptions(options: unknown): void;
  };
  AuthenticationV1Api: unknown;
  /** For SubjectAccessReviews (`policy.subjectAccessReview`). */
  AuthorizationV1Api?: unknown;
}

const MISSING =
  `\`${CLIENT_NODE}\` is not installed; modes 'tokenreview' and 'hybrid' need it: ` +
  `npm install ${CLIENT_NODE} (version 1.x or 2.x), or use mode 'jwks'`;

/** client-node 2.x depends on undici 8, which needs this Node.js version or later. */
const CLIENT_NODE_2_MIN_NODE = [22, 19] as const;

function requireHere(): NodeJS.Require | undefined {
  // `__filename` exists in the CommonJS build, `import.meta.url` in the ESM one.
  const here = typeof __filename === 'string' ? __filename : import.meta.url;
  return typeof here === 'string' ? createRequire(here) : undefined;
}

/**
 * Synchronously tells whether the module can be found from this package, so construction can
 * fail with a clear message. `undefined` when this cannot be determined (then the first use tells).
 */
export function isModuleInstalled(specifier: string): boolean | undefined {
  const require = requireHere();
  if (!require) return undefined;
  try {
    require.resolve(specifier);
    return true;
  } catch (error) {
    // An ESM-only package without a `require` condition exists but is not require-resolvable.
    return (error as { code?: unknown }).code === 'MODULE_NOT_FOUND' ? false : undefined;
  }
}

/** The version of `@kubernetes/client-node` this package would load, when it can be read. */
function installedClientNodeVersion(): string | undefined {
  try {
    const file = requireHere()?.resolve(`${CLIENT_NODE}/package.json`);
    if (!file) return undefined;
    const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the installed `@kubernetes/client-node` cannot run on this Node.js, or `undefined` when it
 * can (or when its version cannot be read). 2.x fails on import below Node.js 22.19 with an
 * unrelated-looking TypeError from undici, so it is named before that happens.
 */
export function clientNodeIncompatibility(
  clientNodeVersion: string | undefined = installedClientNodeVersion(),
  nodeVersion: string = process.versions.node,
): string | undefined {
  const major = Number.parseInt(clientNodeVersion ?? '', 10);
  if (!(major >= 2)) return undefined;
  const [nodeMajor = 0, nodeMinor = 0] = nodeVersion.split('.').map(Number);
  const [minMajor, minMinor] = CLIENT_NODE_2_MIN_NODE;
  if (nodeMajor > minMajor || (nodeMajor === minMajor && nodeMinor >= minMinor)) return undefined;
  return (
    `\`${CLIENT_NODE}\` ${clientNodeVersion} is installed, and ${major}.x needs Node.js >= ` +
    `${minMajor}.${minMinor} (this is Node.js ${nodeVersion}): npm install ${CLIENT_NODE}@^1, ` +
    `or run on Node.js >= ${minMajor}.${minMinor}, or use mode 'jwks'`
  );
}

/**
 * Throws an `ApiserverTokenConfigError` at construction when the peer dependency is missing or
 * cannot run on this Node.js.
 */
export function assertClientNodeInstalled(field: string, specifier: string = CLIENT_NODE): void {
  if (isModuleInstalled(specifier) === false) {
    throw new ApiserverTokenConfigError(
      field,
      specifier === CLIENT_NODE ? MISSING : `\`${specifier}\` is not installed`,
    );
  }
  const incompatible = specifier === CLIENT_NODE ? clientNodeIncompatibility() : undefined;
  if (incompatible) throw new ApiserverTokenConfigError(field, incompatible);
}

/**
 * The YAML parser `@kubernetes/client-node` reads kubeconfig files with (its `js-yaml`
 * dependency), loaded synchronously so that construction can refuse a file that does not parse.
 * `undefined` when it cannot be found (then the first use of the file tells).
 */
export function clientNodeYamlParser(): ((text: string) => unknown) | undefined {
  try {
    const manifest = requireHere()?.resolve(`${CLIENT_NODE}/package.json`);
    if (!manifest) return undefined;
    const yaml = createRequire(manifest)('js-yaml') as { load?: unknown };
    return typeof yaml.load === 'function' ? (yaml.load as (text: string) => unknown) : undefined;
  } catch {
    return undefined;
  }
}

let loading: Promise<ClientNodeModule> | undefined;

/** Imports `@kubernetes/client-node` once, lazily, so that the jwks mode never loads it. */
export function importClientNode(): Promise<ClientNodeModule> {
  loading ??= import(CLIENT_NODE).then(
    (module: unknown) => {
      const candidate = ((module as { default?: unknown }).default ?? module) as Partial<ClientNodeModule>;
      const resolved = (module as Partial<ClientNodeModule>).KubeConfig
        ? (module as ClientNodeModule)
        : candidate;
      if (typeof resolved.KubeConfig !== 'function' || typeof resolved.AuthenticationV1Api !== 'function') {
        throw new ApiserverTokenConfigError(
          'mode',
          `\`${CLIENT_NODE}\` does not export KubeConfig and AuthenticationV1Api`,
        );
      }
      return resolved as ClientNodeModule;
    },
    (error: unknown) => {
      loading = undefined;
      const reason = (error as Error)?.message ?? String(error);
      const code = (error as { code?: unknown })?.code;
      const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
      throw new ApiserverTokenConfigError(
        'mode',
        notFound
          ? `${MISSING} (${reason})`
          : (clientNodeIncompatibility() ?? `\`${CLIENT_NODE}\` is installed but failed to load: ${reason}`),
      );
    },
  );
  return loading;
}
