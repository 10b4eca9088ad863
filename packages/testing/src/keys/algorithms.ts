import type { SigningAlgorithm } from '../types.js';

/** How one JWS algorithm maps onto node:crypto. */
export interface AlgorithmSpec {
  kty: 'RSA' | 'EC';
  hash: 'sha256' | 'sha384' | 'sha512';
  /** EC curve (node name and JOSE name). */
  curve?: { node: string; jose: 'P-256' | 'P-384' | 'P-521'; size: number };
  pss?: boolean;
}

const EC = {
  'P-256': { node: 'prime256v1', jose: 'P-256', size: 32 },
  'P-384': { node: 'secp384r1', jose: 'P-384', size: 48 },
  'P-521': { node: 'secp521r1', jose: 'P-521', size: 66 },
} as const;

export const ALGORITHMS: Record<SigningAlgorithm, AlgorithmSpec> = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', hash: 'sha256', curve: EC['P-256'] },
  ES384: { kty: 'EC', hash: 'sha384', curve: EC['P-384'] },
  ES512: { kty: 'EC', hash: 'sha512', curve: EC['P-521'] },
};

export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && Object.hasOwn(ALGORITHMS, value);
}

export function algorithmSpec(alg: SigningAlgorithm): AlgorithmSpec {
  const spec = ALGORITHMS[alg];
  if (!spec) throw new TypeError(`unsupported signing algorithm ${JSON.stringify(alg)}`);
  return spec;
}
