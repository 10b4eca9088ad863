import { tokenFingerprint } from '@apiserver-token/core';
import { formatDuration, relativeTime } from './duration.js';
import { audiences, type DecodedToken, decodeToken, numericDate } from './jwt.js';

/** A point in time of a token, absolute and relative to "now". */
export interface TokenTime {
  /** Seconds since the epoch, as in the token. */
  epoch: number;
  /** RFC 3339, UTC. */
  time: string;
  /** `in 7m12s` or `3h ago`. */
  relative: string;
}

/** An object reference in a token's `kubernetes.io` claim. */
export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** A warning about a token, with a stable code. */
export interface TokenWarning {
  code:
    | 'legacy_token'
    | 'no_audience'
    | 'no_expiry'
    | 'expired'
    | 'not_yet_valid'
    | 'long_lifetime'
    | 'apiserver_audience'
    | 'stale'
    | 'not_a_service_account';
  message: string;
}

/** What `inspect` reports: the unverified content of a token. */
export interface TokenDescription {
  /** Always false: nothing was verified. */
  verified: false;
  algorithm?: string;
  keyId?: string;
  /** Header parameters other than `alg` and `kid` (kube-apiserver sends none). */
  otherHeaderParameters: Record<string, unknown>;
  issuer?: string;
  audiences: string[];
  subject?: string;
  serviceAccount?: { namespace: string; name: string; uid?: string };
  boundObject?: ObjectRef;
  node?: { name: string; uid?: string };
  attestations?: Record<string, unknown>;
  jti?: string;
  issuedAt?: TokenTime;
  notBefore?: TokenTime;
  expiresAt?: TokenTime;
  warnAfter?: TokenTime;
  /** `exp - iat` in seconds, when both are present. */
  lifetimeSeconds?: number;
  legacy: boolean;
  /** Short SHA-256 fingerprint of the token, as the verifier logs it. */
  fingerprint: string;
  warnings: TokenWarning[];
  /** The claims as decoded. */
  claims: Record<string, unknown>;
}

export const LEGACY_ISSUER = 'kubernetes/serviceaccount';
const SA_PREFIX = 'system:serviceaccount:';
const DAY = 86_400;

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

function ref(value: unknown, kind: string, namespace?: string): ObjectRef | undefined {
  const object = record(value);
  const name = text(object?.name);
  if (!object || name === undefined) return undefined;
  const uid = text(object.uid);
  return { kind, name, ...(namespace !== undefined ? { namespace } : {}), ...(uid ? { uid } : {}) };
}

function at(epoch: number | undefined, now: number): TokenTime | undefined {
  if (epoch === undefined) return undefined;
  return {
    epoch,
    time: new Date(epoch * 1000).toISOString().replace('.000Z', 'Z'),
    relative: relativeTime(epoch * 1000, now),
  };
}

/**
 * Whether an audience looks like the one the Kubernetes API itself accepts (`--api-audiences`,
 * by default the issuer): a token with it is a credential for the whole API, not a webhook token.
 */
function looksLikeApiserverAudience(audience: string, issuer: string | undefined): boolean {
  if (issuer !== undefined && audience === issuer) return true;
  if (audience === 'api' || audience === 'kubernetes') return true;
  if (!URL.canParse(audience)) return false;
  const { hostname, port } = new URL(audience);
  return /^kubernetes(\.default(\.svc(\..+)?)?)?$/.test(hostname) || port === '6443';
}

function describeBinding(claims: Record<string, unknown>): Pick<
  TokenDescription,
  'serviceAccount' | 'boundObject' | 'node' | 'attestations'
> & {
  legacySecret?: string;
} {
  const k8s = record(claims['kubernetes.io']);
  if (!k8s) {
    // Legacy secret-based tokens keep their claims flat.
    const namespace = text(claims['kubernetes.io/serviceaccount/namespace']);
    const name = text(claims['kubernetes.io/serviceaccount/service-account.name']);
    const uid = text(claims['kubernetes.io/serviceaccount/service-account.uid']);
    const secret = text(claims['kubernetes.io/serviceaccount/secret.name']);
    return {
      ...(namespace && name ? { serviceAccount: { namespace, name, ...(uid ? { uid } : {}) } } : {}),
      ...(secret && namespace
        ? { boundObject: { kind: 'Secret', name: secret, namespace }, legacySecret: secret }
        : {}),
    };
  }
  const namespace = text(k8s.namespace);
  const account = ref(k8s.serviceaccount, 'ServiceAccount');
  const pod = ref(k8s.pod, 'Pod', namespace);
  const secret = ref(k8s.secret, 'Secret', namespace);
  const node = ref(k8s.node, 'Node');
  const validating = ref(k8s.validatingwebhookconfiguration, 'ValidatingWebhookConfiguration');
  const mutating = ref(k8s.mutatingwebhookconfiguration, 'MutatingWebhookConfiguration');
  // A pod-bound token also names the pod's node (1.30+): the pod is the binding, the node information.
  const boundObject = pod ?? secret ?? validating ?? mutating ?? node;
  const attestations = record(k8s.attestations);
  return {
    ...(namespace && account
      ? {
          serviceAccount: {
            namespace,
            name: account.name,
            ...(account.uid ? { uid: account.uid } : {}),
          },
        }
      : {}),
    ...(boundObject ? { boundObject } : {}),
    ...(node && boundObject !== node
      ? { node: { name: node.name, ...(node.uid ? { uid: node.uid } : {}) } }
      : {}),
    ...(attestations ? { attestations } : {}),
  };
}

/** Describes a decoded token as of `now` (ms since the epoch). Never includes the signature. */
export function describeDecoded(decoded: DecodedToken, fingerprint: string, now: number): TokenDescription {
  const { header, claims } = decoded;
  const { alg, kid, ...otherHeaderParameters } = header;
  const issuer = text(claims.iss);
  const aud = audiences(claims);
  const iat = numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  const exp = numericDate(claims, 'exp');
  const k8s = record(claims['kubernetes.io']);
  const warnAfter = k8s ? numericDate(k8s, 'warnafter') : undefined;
  const { legacySecret, ...binding } = describeBinding(claims);
  const legacy = issuer === LEGACY_ISSUER;
  const subject = text(claims.sub);
  const nowSeconds = now / 1000;

  const warnings: TokenWarning[] = [];
  if (legacy) {
    warnings.push({
      code: 'legacy_token',
      message: `legacy Secret-based token${legacySecret ? ` (Secret ${legacySecret})` : ''}: no audience, never expires, valid until its Secret is deleted; replace it with a TokenRequest token`,
    });
  }
  if (aud.length === 0 && !legacy) {
    warnings.push({
      code: 'no_audience',
      message: 'no audience: any service that trusts this issuer accepts it',
    });
  }
  if (exp === undefined && !legacy) {
    warnings.push({ code: 'no_expiry', message: 'no expiry (exp): it is valid forever' });
  }
  if (exp !== undefined && exp < nowSeconds) {
    warnings.push({ code: 'expired', message: `expired ${relativeTime(exp * 1000, now)}` });
  }
  if (nbf !== undefined && nbf > nowSeconds) {
    warnings.push({
      code: 'not_yet_valid',
      message: `not valid before ${relativeTime(nbf * 1000, now).slice(3)} from now`,
    });
  }
  if (iat !== undefined && exp !== undefined && exp - iat > DAY) {
    warnings.push({
      code: 'long_lifetime',
      message: `lifetime ${formatDuration((exp - iat) * 1000)} is over a day: a stolen copy stays useful that long`,
    });
  }
  const apiAudiences = aud.filter((audience) => looksLikeApiserverAudience(audience, issuer));
  if (apiAudiences.length > 0) {
    warnings.push({
      code: 'apiserver_audience',
      message: `audience ${apiAudiences.join(', ')} looks like the apiserver's own: the Kubernetes API accepts this token, so a webhook that receives it can act as its service account`,
    });
  }
  if (warnAfter !== undefined && warnAfter < nowSeconds) {
    warnings.push({
      code: 'stale',
      message: `past its warnafter (${relativeTime(warnAfter * 1000, now)}): the kubelet would have refreshed it`,
    });
  }
  if (subject !== undefined && !subject.startsWith(SA_PREFIX)) {
    warnings.push({ code: 'not_a_service_account', message: `subject ${subject} is not a service account` });
  }

  const description: TokenDescription = {
    verified: false,
    ...(typeof alg === 'string' ? { algorithm: alg } : {}),
    ...(typeof kid === 'string' ? { keyId: kid } : {}),
    otherHeaderParameters,
    ...(issuer !== undefined ? { issuer } : {}),
    audiences: aud,
    ...(subject !== undefined ? { subject } : {}),
    ...binding,
    ...(text(claims.jti) ? { jti: claims.jti as string } : {}),
    legacy,
    fingerprint,
    warnings,
    claims,
  };
  const times = {
    issuedAt: at(iat, now),
    notBefore: at(nbf, now),
    expiresAt: at(exp, now),
    warnAfter: at(warnAfter, now),
  };
  for (const [key, value] of Object.entries(times)) {
    if (value) (description as unknown as Record<string, unknown>)[key] = value;
  }
  if (iat !== undefined && exp !== undefined) description.lifetimeSeconds = exp - iat;
  return description;
}

/** Decodes and describes a token; throws `UndecodableTokenError` for a string that is not a JWT. */
export function describeToken(token: string, now: number): TokenDescription {
  return describeDecoded(decodeToken(token), tokenFingerprint(token), now);
}
