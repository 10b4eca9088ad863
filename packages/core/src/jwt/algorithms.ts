import type { JwsAlgorithm } from '../options.js';

/** Every algorithm the verifier implements. */
export const SUPPORTED_ALGORITHMS: readonly JwsAlgorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];

/** Accepted when `algorithms` is not set: what kube-apiserver signs with. */
export const DEFAULT_ALGORITHMS: readonly JwsAlgorithm[] = ['RS256', 'ES256', 'ES384', 'ES512'];

/** What an algorithm needs from a key and how node:crypto checks it. */
export interface AlgorithmSpec {
  hash: 'sha256' | 'sha384' | 'sha512';
  keyType: 'rsa' | 'ec';
  /** EC curve as node:crypto names it (`asymmetricKeyDetails.namedCurve`). */
  curve?: 'prime256v1' | 'secp384r1' | 'secp521r1';
  /** JOSE curve name (JWK `crv`). */
  crv?: 'P-256' | 'P-384' | 'P-521';
  /** Raw `r || s` signature length (ES*). */
  signatureLength?: number;
  pss?: boolean;
}

export const ALGORITHM_SPECS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = {
  RS256: { hash: 'sha256', keyType: 'rsa' },
  RS384: { hash: 'sha384', keyType: 'rsa' },
  RS512: { hash: 'sha512', keyType: 'rsa' },
  PS256: { hash: 'sha256', keyType: 'rsa', pss: true },
  PS384: { hash: 'sha384', keyType: 'rsa', pss: true },
  PS512: { hash: 'sha512', keyType: 'rsa', pss: true },
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1', crv: 'P-256', signatureLength: 64 },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1', crv: 'P-384', signatureLength: 96 },
  ES512: { hash: 'sha512', keyType: 'ec', curve: 'secp521r1', crv: 'P-521', signatureLength: 132 },
};

export function isSupportedAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && Object.hasOwn(ALGORITHM_SPECS, value);
}
