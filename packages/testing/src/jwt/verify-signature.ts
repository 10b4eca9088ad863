import { constants, type KeyObject, verify } from 'node:crypto';
import { ALGORITHMS } from '../keys/algorithms.js';

/** Outcome of checking one signature against one key, in go-jose's terms. */
export type SignatureCheck = 'valid' | 'unsupported' | 'invalid';

/**
 * Verifies a JWS signature the way go-jose v2 does with a raw public key: the `alg` header picks
 * the scheme (any RSA scheme works with an RSA key, ES* with an EC key of the matching size);
 * the JWK `alg` and the `kid` play no part.
 */
export function checkSignature(
  alg: string,
  signingInput: string,
  signature: Buffer,
  key: KeyObject,
): SignatureCheck {
  const spec = Object.hasOwn(ALGORITHMS, alg) ? ALGORITHMS[alg as keyof typeof ALGORITHMS] : undefined;
  const keyType = key.asymmetricKeyType === 'rsa' ? 'RSA' : key.asymmetricKeyType === 'ec' ? 'EC' : undefined;
  if (!spec || spec.kty !== keyType) return 'unsupported';
  try {
    if (spec.kty === 'EC') {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve !== spec.curve!.node || signature.length !== 2 * spec.curve!.size) return 'invalid';
      return verify(spec.hash, Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }, signature)
        ? 'valid'
        : 'invalid';
    }
    const options = spec.pss
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }
      : key;
    return verify(spec.hash, Buffer.from(signingInput), options, signature) ? 'valid' : 'invalid';
  } catch {
    return 'invalid';
  }
}
