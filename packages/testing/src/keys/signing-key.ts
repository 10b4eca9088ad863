import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { base64url } from '../lib/base64url.js';
import type { PublicJwk, SigningAlgorithm } from '../types.js';
import { algorithmSpec } from './algorithms.js';

/** A key pair with its JOSE identity. */
export interface SigningKey {
  alg: SigningAlgorithm;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** kube-apiserver's key id: base64url(SHA-256(DER SubjectPublicKeyInfo)). */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return base64url(createHash('sha256').update(der).digest());
}

export function generateSigningKey(alg: SigningAlgorithm): SigningKey {
  const spec = algorithmSpec(alg);
  const pair =
    spec.kty === 'RSA'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: spec.curve!.node });
  return { alg, kid: keyIdOf(pair.publicKey), privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** Wraps a caller-supplied private key (PEM or KeyObject) for signing. */
export function signingKeyFrom(key: string | KeyObject, alg: SigningAlgorithm): SigningKey {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  const publicKey = createPublicKey(privateKey);
  return { alg, kid: keyIdOf(publicKey), privateKey, publicKey };
}

/** The JWK as kube-apiserver serialises it (go-jose field order: use, kty, kid, crv, alg, x, y, n, e). */
export function publicJwkOf(key: SigningKey): PublicJwk {
  const jwk = key.publicKey.export({ format: 'jwk' });
  if (jwk.kty === 'RSA') {
    return { use: 'sig', kty: 'RSA', kid: key.kid, alg: key.alg, n: jwk.n!, e: jwk.e! };
  }
  return { use: 'sig', kty: 'EC', kid: key.kid, crv: jwk.crv!, alg: key.alg, x: jwk.x!, y: jwk.y! };
}
