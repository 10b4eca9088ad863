import { constants, type KeyObject, verify } from 'node:crypto';
import type { JwsAlgorithm } from '../options.js';
import { ALGORITHM_SPECS } from './algorithms.js';

/** True when `key` is of the type (and curve) `alg` needs. */
export function keyFitsAlgorithm(key: KeyObject, alg: JwsAlgorithm): boolean {
  const spec = ALGORITHM_SPECS[alg];
  if (spec.keyType === 'rsa') return key.asymmetricKeyType === 'rsa';
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === spec.curve;
}

/**
 * Check a JWS signature with node:crypto and a key imported once. ES* signatures are the raw
 * `r || s` of RFC 7518 (`ieee-p1363`), never DER.
 */
export function verifySignature(
  alg: JwsAlgorithm,
  key: KeyObject,
  signingInput: string,
  sig: Buffer,
): boolean {
  const spec = ALGORITHM_SPECS[alg];
  const data = Buffer.from(signingInput, 'latin1');
  try {
    if (spec.keyType === 'ec') {
      if (sig.length !== spec.signatureLength) return false;
      return verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    if (spec.pss) {
      return verify(
        spec.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        sig,
      );
    }
    return verify(spec.hash, data, key, sig);
  } catch {
    // Malformed signature bytes make OpenSSL throw; that is a bad signature, not a server error.
    return false;
  }
}
