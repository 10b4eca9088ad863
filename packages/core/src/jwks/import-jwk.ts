import { createPublicKey, type KeyObject, type JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import { ALGORITHM_SPECS } from '../jwt/algorithms.js';
import { describeValue } from '../jwt/decode.js';
import type { JwsAlgorithm } from '../options.js';

/** A verification key, imported once into a `KeyObject`. */
export interface ImportedKey {
  kid: string | undefined;
  /** The JWK's `alg`, which then binds the key to that algorithm. */
  alg: string | undefined;
  key: KeyObject;
}

/** Why a JWK was not imported: a stable code for programs and diagnostics. */
export type SkippedKeyCode =
  | 'not_an_object'
  | 'invalid_kid'
  | 'unsupported_kty'
  | 'use_not_sig'
  | 'key_ops_without_verify'
  | 'alg_mismatch'
  | 'private_key'
  | 'unsupported_curve'
  | 'missing_parameter'
  | 'invalid_key'
  | 'weak_rsa_exponent'
  | 'rsa_modulus_size';

/** A JWK that was refused, and why (`message` names the key by its `kid`). */
export interface SkippedKey {
  kid: string | undefined;
  code: SkippedKeyCode;
  message: string;
}

/** The usable keys of a JWKS and why the others were skipped. */
export interface ImportedKeySet {
  keys: ImportedKey[];
  skipped: SkippedKey[];
}

const MIN_RSA_BITS = 2048;
// Go's crypto/rsa refuses more than 16384 bits; kube-apiserver's keys are 2048 or 4096. 8192 is
// already a key no issuer uses and that costs a verification several milliseconds.
const MAX_RSA_BITS = 8192;
// Go's crypto/rsa refuses e < 2 and e > 2^31-1; an even e is no RSA key (not coprime with φ(n)),
// and e = 1 makes every padded hash its own signature: anyone could sign.
const MAX_RSA_EXPONENT = 2n ** 32n;
const CURVES = new Set(['P-256', 'P-384', 'P-521']);
// Only the public parameters go to createPublicKey: a JWK carrying `d` is refused outright.
const PUBLIC_PARAMETERS: Record<string, readonly string[]> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'] };

/** An `alg` that names an algorithm this key cannot serve (or no signature algorithm at all). */
function algMismatch(alg: string, kty: string, crv: unknown): string | undefined {
  if (!Object.hasOwn(ALGORITHM_SPECS, alg))
    return `alg ${describeValue(alg)} is no supported signature algorithm`;
  const spec = ALGORITHM_SPECS[alg as JwsAlgorithm];
  if (spec.keyType === 'rsa' && kty !== 'RSA') return `alg ${alg} needs an RSA key, kty is ${kty}`;
  if (spec.keyType === 'ec' && kty !== 'EC') return `alg ${alg} needs an EC key, kty is ${kty}`;
  if (spec.crv !== undefined && crv !== spec.crv)
    return `alg ${alg} needs curve ${spec.crv}, crv is ${describeValue(crv)}`;
  return undefined;
}

function importOne(jwk: unknown): ImportedKey | SkippedKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    return { kid: undefined, code: 'not_an_object', message: 'not a JSON object' };
  const record = jwk as Record<string, unknown>;
  const { kty, kid, alg, use, key_ops: keyOps } = record;
  if (kid !== undefined && typeof kid !== 'string')
    return { kid: undefined, code: 'invalid_kid', message: 'kid is not a string' };
  const label = kid === undefined ? 'key without kid' : `key ${describeValue(kid)}`;
  const skip = (code: SkippedKeyCode, problem: string): SkippedKey => ({
    kid,
    code,
    message: `${label}: ${problem}`,
  });
  // Own keys only: `in` would let `constructor` or `__proto__` through and break the whole set.
  if (typeof kty !== 'string' || !Object.hasOwn(PUBLIC_PARAMETERS, kty))
    return skip('unsupported_kty', `kty ${describeValue(kty)} unsupported`);
  if (use !== undefined && use !== 'sig') return skip('use_not_sig', `use ${describeValue(use)} is not sig`);
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    return skip('key_ops_without_verify', 'key_ops does not allow verify');
  }
  if (alg !== undefined && typeof alg !== 'string') return skip('alg_mismatch', 'alg is not a string');
  if ('d' in record) return skip('private_key', 'a private key was published, refused');
  if (kty === 'EC' && !CURVES.has(record.crv as string))
    return skip('unsupported_curve', `curve ${describeValue(record.crv)} unsupported`);
  if (kty === 'RSA' && record.crv !== undefined) return skip('alg_mismatch', 'an RSA key has no crv');
  if (alg !== undefined) {
    const mismatch = algMismatch(alg, kty, record.crv);
    if (mismatch !== undefined) return skip('alg_mismatch', mismatch);
  }
  const publicJwk: Record<string, unknown> = { kty };
  for (const name of PUBLIC_PARAMETERS[kty] ?? []) {
    if (typeof record[name] !== 'string') return skip('missing_parameter', `${name} missing`);
    publicJwk[name] = record[name];
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicJwk as NodeJsonWebKey, format: 'jwk' });
  } catch {
    // For EC, OpenSSL refuses a point that is not on the named curve here (invalid-curve attacks).
    return skip(
      'invalid_key',
      kty === 'EC' ? `not a valid ${record.crv as string} point` : 'not a valid RSA public key',
    );
  }
  if (kty === 'RSA') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)
      return skip('rsa_modulus_size', `RSA modulus of ${bits} bits, outside ${MIN_RSA_BITS}-${MAX_RSA_BITS}`);
    const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
    if (e < 3n || e % 2n === 0n || e > MAX_RSA_EXPONENT)
      return skip('weak_rsa_exponent', `RSA public exponent ${e} refused (odd, 3 to 2^32)`);
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
    if ('code' in imported) result.skipped.push(imported);
    else result.keys.push(imported);
  }
  return result;
}
