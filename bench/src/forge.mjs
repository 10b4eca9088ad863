// Tokens that must be rejected: forgeries of a real token and cheap garbage for floods.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const b64u = (value) => Buffer.from(value).toString('base64url');
const foreignKeys = new Map();

function foreignKey(alg) {
  if (!foreignKeys.has(alg)) {
    const pair = alg.startsWith('ES')
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
    foreignKeys.set(alg, pair.privateKey);
  }
  return foreignKeys.get(alg);
}

/** Same header (alg, kid) and claims as `token`, signed by a key the issuer never had. */
export function forgeSignature(token) {
  const [h, p] = token.split('.');
  const { alg } = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const key = foreignKey(alg);
  const signature = sign(
    'sha256',
    Buffer.from(`${h}.${p}`),
    alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key,
  );
  return `${h}.${p}.${b64u(signature)}`;
}

/** The real signature over claims changed to another service account. */
export function tamperClaims(token) {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  claims.sub = 'system:serviceaccount:kube-system:attacker';
  return `${h}.${b64u(JSON.stringify(claims))}.${s}`;
}

/**
 * A generator of random tokens of several kinds, each cheap to make and never valid. `pass` lists which
 * kinds to produce: 'bytes' (random text), 'none' (alg none), 'hmac' (HS256), 'issuer' (unknown issuer),
 * 'audience' (other audience), 'expired' (a day past), 'signature' (right claims and kid, random
 * signature: only a signature check rejects it), 'kid' (right claims, unknown kid).
 */
export function garbageFactory({ issuer, audience, kid, alg = 'RS256' }, kinds) {
  const now = () => Math.floor(Date.now() / 1000);
  const sigBytes = alg.startsWith('ES') ? 64 : 256;
  const claims = (over = {}) => {
    const t = now();
    return b64u(
      JSON.stringify({
        aud: [audience],
        exp: t + 600,
        iat: t,
        nbf: t,
        iss: issuer,
        sub: `system:serviceaccount:flood:${randomBytes(6).toString('hex')}`,
        ...over,
      }),
    );
  };
  const header = (h) => b64u(JSON.stringify(h));
  const sig = () => b64u(randomBytes(sigBytes));
  const makers = {
    bytes: () => `${b64u(randomBytes(24))}.${b64u(randomBytes(120))}.${b64u(randomBytes(64))}`,
    none: () => `${header({ alg: 'none' })}.${claims()}.`,
    hmac: () => `${header({ alg: 'HS256', kid })}.${claims()}.${b64u(randomBytes(32))}`,
    issuer: () =>
      `${header({ alg, kid })}.${claims({ iss: `https://evil-${randomBytes(4).toString('hex')}.example` })}.${sig()}`,
    audience: () =>
      `${header({ alg, kid })}.${claims({ aud: [`https://other-${randomBytes(4).toString('hex')}.example/x`] })}.${sig()}`,
    expired: () => {
      const t = now() - 86_400;
      return `${header({ alg, kid })}.${claims({ iat: t - 600, nbf: t - 600, exp: t })}.${sig()}`;
    },
    signature: () => `${header({ alg, kid })}.${claims()}.${sig()}`,
    kid: () => `${header({ alg, kid: b64u(randomBytes(32)) })}.${claims()}.${sig()}`,
  };
  const list = kinds.map((k) => {
    if (!makers[k]) throw new Error(`unknown garbage kind ${k}`);
    return makers[k];
  });
  let i = 0;
  return () => list[i++ % list.length]();
}

/**
 * Well-formed forgeries of `token` for an attack: its header (alg, kid), its issuer, audience and
 * times, a new `jti` each (so no two are alike and no cache can answer them) and a random signature
 * of the right length. `account`: 'same' keeps the token's service account (an attacker who knows
 * the allowed one), 'other' names a random one in a random namespace.
 */
export function forgedFactory(token, account) {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  const sigLength = Buffer.from(s, 'base64url').length;
  // A pool of random signatures: the payload already makes each token distinct.
  const signatures = Array.from({ length: 256 }, () => b64u(randomBytes(sigLength)));
  let n = 0;
  return () => {
    n++;
    const id = randomBytes(6).toString('hex');
    const forged = { ...claims, jti: `${id}-${n}` };
    if (account === 'other') {
      const namespace = `ns-${id.slice(0, 4)}`;
      const name = `sa-${id.slice(4)}`;
      forged.sub = `system:serviceaccount:${namespace}:${name}`;
      forged['kubernetes.io'] = {
        ...claims['kubernetes.io'],
        namespace,
        serviceaccount: { name, uid: claims['kubernetes.io']?.serviceaccount?.uid },
      };
    }
    return `${h}.${b64u(JSON.stringify(forged))}.${signatures[n & 255]}`;
  };
}
