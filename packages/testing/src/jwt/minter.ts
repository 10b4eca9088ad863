import { randomUUID } from 'node:crypto';
import type { KeySet } from '../keys/key-set.js';
import { generateSigningKey, type SigningKey, signingKeyFrom } from '../keys/signing-key.js';
import { decodeBase64url, encodeSegment } from '../lib/base64url.js';
import { sortKeysDeep } from '../lib/sort-keys.js';
import type { ObjectRegistry } from '../registry.js';
import type {
  MintLegacyTokenOptions,
  MintTokenOptions,
  MintWebhookTokenOptions,
  SigningAlgorithm,
} from '../types.js';
import type { VersionTraits } from '../version.js';
import { webhookAudience } from '../webhook-audience.js';
import { BOUND_CLAIM, type KubernetesClaim, legacyClaims, serviceAccountUsername } from './claims.js';
import { signCompact } from './sign.js';

export interface MinterContext {
  keys: KeySet;
  registry: ObjectRegistry;
  issuer: () => string;
  apiAudiences: () => string[];
  now: () => number;
  traits: VersionTraits;
}

/** The kubelet asks for 3607 s; the apiserver extends such pod-bound tokens to a year, with a warning time. */
export const KUBELET_TOKEN_SECONDS = 3607;
const EXTENDED_TOKEN_SECONDS = 365 * 24 * 3600;

/** Mints tokens in kube-apiserver's layout (TokenRequest, legacy token controller, KEP-6060). */
export class Minter {
  readonly #ctx: MinterContext;
  readonly #foreignKeys = new Map<SigningAlgorithm, SigningKey>();

  constructor(ctx: MinterContext) {
    this.#ctx = ctx;
  }

  mint(options: MintTokenOptions = {}): string {
    const { registry } = this.#ctx;
    const namespace = options.namespace ?? 'default';
    const serviceAccount = options.serviceAccount ?? 'default';
    const saUid =
      options.serviceAccountUid ?? registry.ensure('ServiceAccount', namespace, serviceAccount).uid;
    const iat = options.issuedAt ?? Math.floor(this.#ctx.now() / 1000);
    const lifetime = options.expiresIn ?? 3600;
    const nbf = options.notBefore === null ? undefined : (options.notBefore ?? iat);
    const audiences =
      options.audiences === undefined
        ? this.#defaultAudiences()
        : Array.isArray(options.audiences)
          ? options.audiences
          : [options.audiences];

    const k8s: KubernetesClaim = { namespace, serviceaccount: { name: serviceAccount, uid: saUid } };
    let podNode: { name: string; uid?: string } | undefined;
    if (options.boundObject) {
      const { kind, name } = options.boundObject;
      const claim = BOUND_CLAIM[kind];
      if (!claim) throw new TypeError(`mintToken: boundObject.kind ${JSON.stringify(kind)} is not supported`);
      // With an explicit uid the object is not created: the token may name one that does not exist.
      const object =
        options.boundObject.uid === undefined
          ? registry.ensure(kind, namespace, name, { serviceAccountName: serviceAccount })
          : registry.get(kind, namespace, name);
      k8s[claim] = { name, uid: options.boundObject.uid ?? object!.uid };
      // 1.30+: a pod on a node names the node (without uid when the Node object does not exist).
      if (kind === 'Pod' && object?.nodeName && this.#ctx.traits.podNodeClaim) {
        const node = registry.get('Node', '', object.nodeName);
        podNode = { name: object.nodeName, ...(node ? { uid: node.uid } : {}) };
      }
    }
    if (options.node) {
      k8s.node = {
        name: options.node.name,
        uid: options.node.uid ?? registry.ensure('Node', '', options.node.name).uid,
      };
    } else if (podNode) {
      k8s.node = podNode as { name: string; uid: string };
    }
    if (options.attestations) k8s.attestations = { ...options.attestations };
    // kube-apiserver's --service-account-extend-token-expiration: a pod-bound token the kubelet asks
    // for (3607 s, the apiserver's own audiences) lives a year and warns after the 3607 s.
    const extended =
      lifetime === KUBELET_TOKEN_SECONDS &&
      options.boundObject?.kind === 'Pod' &&
      sameSet(audiences, this.#defaultAudiences());
    const exp = iat + (extended ? EXTENDED_TOKEN_SECONDS : lifetime);
    if (options.warnAfter !== undefined) k8s.warnafter = options.warnAfter;
    else if (extended) k8s.warnafter = iat + KUBELET_TOKEN_SECONDS;

    const jti =
      options.jti === true || (options.jti === undefined && this.#ctx.traits.jti)
        ? randomUUID()
        : typeof options.jti === 'string'
          ? options.jti
          : undefined;
    const claims: Record<string, unknown> = {
      aud: audiences,
      exp,
      iat,
      iss: options.issuer ?? this.#ctx.issuer(),
      jti,
      'kubernetes.io': k8s,
      nbf,
      sub: serviceAccountUsername(namespace, serviceAccount),
    };
    return this.#sign(claims, options);
  }

  mintWebhook(options: MintWebhookTokenOptions): string {
    const { webhook, audience, apiGroups, ...rest } = options;
    if (
      webhook.kind !== 'ValidatingWebhookConfiguration' &&
      webhook.kind !== 'MutatingWebhookConfiguration'
    ) {
      throw new TypeError(
        `mintWebhookToken: webhook.kind must be 'ValidatingWebhookConfiguration' or 'MutatingWebhookConfiguration'`,
      );
    }
    return this.mint({
      namespace: 'kube-system',
      serviceAccount: 'webhook-auth',
      expiresIn: 600,
      ...rest,
      audiences: [webhookAudience(audience)],
      boundObject: { kind: webhook.kind, name: webhook.name, ...(webhook.uid ? { uid: webhook.uid } : {}) },
      attestations: { admissionReviewAPIGroups: apiGroups ?? ['*'] },
    });
  }

  mintLegacy(options: MintLegacyTokenOptions = {}): string {
    const { registry } = this.#ctx;
    const namespace = options.namespace ?? 'default';
    const serviceAccount = options.serviceAccount ?? 'default';
    const secretName = options.secretName ?? `${serviceAccount}-token`;
    const saUid =
      options.serviceAccountUid ?? registry.ensure('ServiceAccount', namespace, serviceAccount).uid;
    const claims = legacyClaims({ namespace, serviceAccount, serviceAccountUid: saUid, secretName });
    const token = this.#sign(claims, { alg: options.alg });
    // The token controller stores the token in the Secret; the legacy authenticator compares them.
    const secret =
      registry.get('Secret', namespace, secretName) ?? registry.create('Secret', namespace, secretName);
    secret.token = token;
    return token;
  }

  #defaultAudiences(): string[] {
    const auds = this.#ctx.apiAudiences();
    return auds.length > 0 ? [...auds] : [this.#ctx.issuer()];
  }

  #sign(
    generated: Record<string, unknown>,
    options: Pick<MintTokenOptions, 'alg' | 'kid' | 'header' | 'claims' | 'signWith' | 'tamper'>,
  ): string {
    const alg = options.alg ?? this.#ctx.keys.defaultAlg;
    const key = this.#key(alg, options.signWith);
    // A claim overridden with `undefined` is dropped by sortKeysDeep.
    const claims = sortKeysDeep({ ...generated, ...(options.claims ?? {}) });
    const header: Record<string, unknown> = { alg };
    if (options.kid !== null) header.kid = options.kid ?? key.kid;
    Object.assign(header, options.header ?? {});
    const token = signCompact(header, claims, key, alg);
    return options.tamper ? tamper(token, options.tamper) : token;
  }

  #key(alg: SigningAlgorithm, signWith: MintTokenOptions['signWith']): SigningKey {
    if (signWith === undefined) return this.#ctx.keys.signingKey(alg);
    if (signWith === 'foreign') {
      let key = this.#foreignKeys.get(alg);
      if (!key) {
        key = generateSigningKey(alg);
        this.#foreignKeys.set(alg, key);
      }
      return key;
    }
    return signingKeyFrom(signWith, alg);
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Breaks a signed token: flips signature bits, or swaps the payload's `sub` under the old signature. */
export function tamper(token: string, what: 'signature' | 'payload'): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  if (what === 'signature') {
    const bytes = decodeBase64url(signature) ?? Buffer.alloc(1);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x5a;
    return `${header}.${payload}.${bytes.toString('base64url')}`;
  }
  const claims = JSON.parse((decodeBase64url(payload) ?? Buffer.alloc(0)).toString('utf8')) as Record<
    string,
    unknown
  >;
  claims.sub = `${String(claims.sub ?? '')}-tampered`;
  return `${header}.${encodeSegment(claims)}.${signature}`;
}
