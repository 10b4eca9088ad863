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

/**
 * Synchronously tells whether the module can be found from this package, so construction can
 * fail with a clear message. `undefined` when this cannot be determined (then the first use tells).
 */
export function isModuleInstalled(specifier: string): boolean | undefined {
  // `__filename` exists in the CommonJS build, `import.meta.url` in the ESM one.
  const here = typeof __filename === 'string' ? __filename : import.meta.url;
  if (typeof here !== 'string') return undefined;
  try {
    createRequire(here).resolve(specifier);
    return true;
  } catch (error) {
    // An ESM-only package without a `require` condition exists but is not require-resolvable.
    return (error as { code?: unknown }).code === 'MODULE_NOT_FOUND' ? false : undefined;
  }
}

/** Throws an `ApiserverTokenConfigError` at construction when the peer dependency is missing. */
export function assertClientNodeInstalled(field: string, specifier: string = CLIENT_NODE): void {
  if (isModuleInstalled(specifier) === false) {
    throw new ApiserverTokenConfigError(
      field,
      specifier === CLIENT_NODE ? MISSING : `\`${specifier}\` is not installed`,
    );
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
      throw new ApiserverTokenConfigError(
        'mode',
        `${MISSING} (${(error as Error)?.message ?? String(error)})`,
      );
    },
  );
  return loading;
}
