import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

/** A signing key of the test issuer, with its public JWK (`kid` as kube-apiserver computes it). */
export interface TestKey {
  alg: 'RS256' | 'ES256' | 'ES384' | 'ES512' | 'PS256';
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function makeKey(alg: TestKey['alg'] = 'RS256'): TestKey {
  const pair =
    alg === 'RS256' || alg === 'PS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg] });
  const der = pair.publicKey.export({ type: 'spki', format: 'der' });
  const kid = createHash('sha256').update(der).digest('base64url');
  const jwk = { ...pair.publicKey.export({ format: 'jwk' }), use: 'sig', kid, alg };
  return { alg, kid, privateKey: pair.privateKey, jwk };
}

export function jwksOf(...keys: TestKey[]): { keys: Record<string, unknown>[] } {
  return { keys: keys.map((key) => key.jwk) };
}

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Sign arbitrary header and claims (the header's alg/kid default to the key's). */
export function signJwt(
  key: TestKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const fullHeader = { alg: key.alg, kid: key.kid, ...header };
  const input = `${b64(fullHeader)}.${b64(claims)}`;
  const hash = { RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[
    key.alg
  ];
  const signature =
    key.alg === 'PS256'
      ? sign(hash, Buffer.from(input), { key: key.privateKey, padding: 6, saltLength: 32 })
      : sign(hash, Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** Compact JWS from raw parts, for hostile inputs. */
export function rawJwt(header: unknown, claims: unknown, signature = 'c2ln'): string {
  return `${b64(header)}.${b64(claims)}.${signature}`;
}

/** Claims shaped like a kube-apiserver TokenRequest token. */
export function kubeClaims(options: {
  issuer: string;
  audiences: string[];
  nowSeconds: number;
  lifetime?: number;
  namespace?: string;
  name?: string;
  extra?: Record<string, unknown>;
  kubernetes?: Record<string, unknown>;
}): Record<string, unknown> {
  const namespace = options.namespace ?? 'kube-system';
  const name = options.name ?? 'webhook-auth';
  return {
    aud: options.audiences,
    exp: options.nowSeconds + (options.lifetime ?? 600),
    iat: options.nowSeconds,
    nbf: options.nowSeconds,
    iss: options.issuer,
    sub: `system:serviceaccount:${namespace}:${name}`,
    'kubernetes.io': {
      namespace,
      serviceaccount: { name, uid: '5a2f6c3e-0000-4000-8000-000000000001' },
      ...options.kubernetes,
    },
    ...options.extra,
  };
}
