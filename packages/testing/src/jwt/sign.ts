import { constants, sign } from 'node:crypto';
import { algorithmSpec } from '../keys/algorithms.js';
import type { SigningKey } from '../keys/signing-key.js';
import { base64url, encodeSegment } from '../lib/base64url.js';
import type { SigningAlgorithm } from '../types.js';

/** Signs a compact JWS. EC signatures are raw r||s (JOSE), not DER. */
export function signCompact(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: Pick<SigningKey, 'privateKey'>,
  alg: SigningAlgorithm,
): string {
  const signingInput = `${encodeSegment(header)}.${encodeSegment(claims)}`;
  return `${signingInput}.${base64url(signBytes(signingInput, key, alg))}`;
}

export function signBytes(input: string, key: Pick<SigningKey, 'privateKey'>, alg: SigningAlgorithm): Buffer {
  const spec = algorithmSpec(alg);
  if (spec.kty === 'EC') {
    return sign(spec.hash, Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  }
  if (spec.pss) {
    return sign(spec.hash, Buffer.from(input), {
      key: key.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
  }
  return sign(spec.hash, Buffer.from(input), key.privateKey);
}
