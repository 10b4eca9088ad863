import { createPublicKey, type KeyObject } from 'node:crypto';
import { describeValue } from '../jwt/decode.js';

/** A verification key, imported once into a `KeyObject`. */
export interface ImportedKey {
  kid: string | undefined;
  /** The JWK's `alg`, which then binds the key to that algorithm. */
  alg: string | undefined;
  key: KeyObject;
}

/** The usable keys of a JWKS and why the others were skipped. */
export interface ImportedKeySet {
  keys: ImportedKey[];
  skipped: string[];
}

const MIN_RSA_BITS = 2048;
const CURVES = new Set(['P-256', 'P-384', 'P-521']);
// Only the public parameters go to createPublicKey: a JWK carrying `d` is refused outright.
const PUBLIC_PARAMETERS: Record<string, readonly string[]> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'] };

function importOne(jwk: unknown): ImportedKey | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'not a JSON object';
  const record = jwk as Record<string, unknown>;
  const { kty, kid, alg, use, key_ops: keyOps } = record;
  if (kid !== undefined && typeof kid !== 'string') return 'kid is not a string';
  const label = kid === undefined ? 'key without kid' : `key ${describeValue(kid)}`;
  // Own keys only: `in` would let `constructor` or `__proto__` through and break the whole set.
  if (typeof kty !== 'string' || !Object.hasOwn(PUBLIC_PARAMETERS, kty))
    return `${label}: kty ${describeValue(kty)} unsupported`;
  if (use !== undefined && use !== 'sig') return `${label}: use ${describeValue(use)} is not sig`;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    return `${label}: key_ops does not allow verify`;
  }
  if (alg !== undefined && typeof alg !== 'string') return `${label}: alg is not a string`;
  if ('d' in record) return `${label}: a private key was published, refused`;
  if (kty === 'EC' && !CURVES.has(record.crv as string))
    return `${label}: curve ${describeValue(record.crv)} unsupported`;
  const publicJwk: Record<string, unknown> = { kty };
  for (const name of PUBLIC_PARAMETERS[kty] ?? []) {
    if (typeof record[name] !== 'string') return `${label}: ${name} missing`;
    publicJwk[name] = record[name];
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    return `${label}: not a valid ${kty} public key`;
  }
  if (kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    return `${label}: RSA modulus shorter than ${MIN_RSA_BITS} bits`;
  }
  return { kid, alg, key };
}

/** Import every usable signature key of a JWKS document (`{ "keys": [...] }`). */
export function importKeySet(document: unknown): ImportedKeySet {
  if (
    typeof document !== 'object' ||
    document === null ||
    !Array.isArray((document as { keys?: unknown }).keys)
  ) {
    throw new TypeError('not a JWKS document: `keys` is not an array');
  }
  const result: ImportedKeySet = { keys: [], skipped: [] };
  for (const jwk of (document as { keys: unknown[] }).keys) {
    const imported = importOne(jwk);
    if (typeof imported === 'string') result.skipped.push(imported);
    else result.keys.push(imported);
  }
  return result;
}
