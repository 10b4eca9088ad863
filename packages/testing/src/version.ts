/**
 * Behaviour that differs between the kube-apiserver versions the kit imitates. Each difference
 * here was seen in the recordings of a real v1.28.4 and v1.36.3 (test/fixtures).
 */

/** The Kubernetes minor versions the kit can imitate. */
export type KubernetesVersion = '1.28' | '1.36';

/** The newest imitated version: the default of `startTestApiserver`. */
export const NEWEST_VERSION: KubernetesVersion = '1.36';

export const KUBERNETES_VERSIONS: readonly KubernetesVersion[] = ['1.28', '1.36'];

/** What changes with the version. */
export interface VersionTraits {
  version: KubernetesVersion;
  /** The `/version` document's `gitVersion`. */
  gitVersion: string;
  /** Prefix of go-jose errors: `square/go-jose` (1.28) or `go-jose/go-jose` (1.29+). */
  jose: string;
  /** Every issued token carries a `jti` (1.29+). */
  jti: boolean;
  /** Pod-bound tokens for a pod on a node carry `kubernetes.io.node` (1.30+). */
  podNodeClaim: boolean;
  /**
   * The `kid` header selects the verification keys; an unknown one fails with `invalid signature,
   * no keys found` (go-jose v4 in 1.29+). In 1.28 every key was tried whatever the `kid`.
   */
  kidSelectsKeys: boolean;
  /** Review answers carry `metadata.creationTimestamp: null` (1.28); gone in 1.36. */
  nullCreationTimestamp: boolean;
}

const TRAITS: Record<KubernetesVersion, VersionTraits> = {
  '1.28': {
    version: '1.28',
    gitVersion: 'v1.28.4',
    jose: 'square/go-jose',
    jti: false,
    podNodeClaim: false,
    kidSelectsKeys: false,
    nullCreationTimestamp: true,
  },
  '1.36': {
    version: '1.36',
    gitVersion: 'v1.36.3',
    jose: 'go-jose/go-jose',
    jti: true,
    podNodeClaim: true,
    kidSelectsKeys: true,
    nullCreationTimestamp: false,
  },
};

export function traitsOf(version: KubernetesVersion): VersionTraits {
  return TRAITS[version];
}

export function isKubernetesVersion(value: unknown): value is KubernetesVersion {
  return typeof value === 'string' && Object.hasOwn(TRAITS, value);
}
