import { LEGACY_ISSUER, serviceAccountUsername } from '../jwt/claims.js';
import { checkSignature } from '../jwt/verify-signature.js';
import type { KeySet } from '../keys/key-set.js';
import { aggregateMessage, goQuoteList } from '../lib/go-format.js';
import type { ObjectRegistry, StoredObject } from '../registry.js';
import type { ObjectKind } from '../types.js';
import type { VersionTraits } from '../version.js';
import { type ParsedJws, parseJws, unverifiedIssuer } from './parse-jws.js';
import { type UserDirectory, type UserInfo, withAuthenticatedGroup } from './users.js';

/** The verdict of the apiserver's token authenticators for one token and audience set. */
export type TokenAuthResult =
  | { ok: true; user: UserInfo; audiences: string[] }
  | { ok: false; error?: string };

export interface TokenAuthenticatorContext {
  keys: KeySet;
  registry: ObjectRegistry;
  users: UserDirectory;
  issuers: () => string[];
  apiAudiences: () => string[];
  now: () => number;
  leewaySeconds: number;
  traits: VersionTraits;
}

type Outcome = { ok: true; user: UserInfo; audiences: string[] } | { ok: false; error?: string };

const INVALID = 'service account token has been invalidated';
const NO_OPINION = { ok: false } as const;

/**
 * kube-apiserver's token authentication, re-implemented from its behaviour: static tokens, then
 * legacy Secret-based tokens, then bound service-account tokens (`pkg/serviceaccount/jwt.go` and
 * `claims.go` of Kubernetes 1.28-1.30), with the same checks in the same order and the same
 * error strings.
 */
export class TokenAuthenticator {
  readonly #ctx: TokenAuthenticatorContext;

  constructor(ctx: TokenAuthenticatorContext) {
    this.#ctx = ctx;
  }

  /**
   * @param requested audiences the caller asked for; undefined means the apiserver's own.
   * @returns the union's verdict; `error` is the aggregated message TokenReview reports.
   */
  authenticate(token: string, requested?: string[]): TokenAuthResult {
    const errors: string[] = [];
    for (const authenticator of [this.#static, this.#bootstrap, this.#legacy, this.#bound]) {
      const outcome = authenticator.call(this, token, requested);
      if (outcome.ok)
        return { ok: true, user: withAuthenticatedGroup(outcome.user), audiences: outcome.audiences };
      if (outcome.error) errors.push(outcome.error);
    }
    // What a real apiserver reports: the bearer-token failure, aggregated with any specific reason.
    return { ok: false, error: aggregateMessage(['invalid bearer token', ...errors]) };
  }

  /** Static tokens are audience-agnostic: valid only when the request targets the apiserver's own audiences. */
  #static(token: string, requested: string[] | undefined): Outcome {
    const user = this.#ctx.users.byToken(token);
    if (!user) return NO_OPINION;
    const audiences = this.#agnosticAudiences(requested);
    if (!audiences) return NO_OPINION;
    return {
      ok: true,
      user: {
        username: user.name,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: [...user.groups],
        extra: {},
      },
      audiences,
    };
  }

  /**
   * Bootstrap tokens (`<id>.<secret>`, the Secret `kube-system/bootstrap-token-<id>`), as the
   * bootstrap authenticator: `system:bootstrap:<id>` in `system:bootstrappers` and the Secret's
   * extra groups, no uid; audience-agnostic like static tokens. Every failure is "no opinion".
   */
  #bootstrap(token: string, requested: string[] | undefined): Outcome {
    const match = /^([a-z0-9]{6})\.([a-z0-9]{16})$/.exec(token);
    if (!match) return NO_OPINION;
    const [, id, secret] = match as unknown as [string, string, string];
    const stored = this.#ctx.registry.get('Secret', 'kube-system', `bootstrap-token-${id}`);
    const data = stored?.bootstrap;
    if (!stored || !data || stored.deletionTimestamp !== undefined || data.secret !== secret)
      return NO_OPINION;
    if (data.expiresAt !== undefined && this.#ctx.now() >= data.expiresAt) return NO_OPINION;
    const audiences = this.#agnosticAudiences(requested);
    if (!audiences) return NO_OPINION;
    return {
      ok: true,
      user: {
        username: `system:bootstrap:${id}`,
        groups: ['system:bootstrappers', ...data.extraGroups],
        extra: {},
      },
      audiences,
    };
  }

  /** The audiences an audience-agnostic token authenticates for: the apiserver's own, if requested. */
  #agnosticAudiences(requested: string[] | undefined): string[] | undefined {
    const implicit = this.#ctx.apiAudiences();
    if (implicit.length === 0) return requested ?? implicit;
    const audiences = implicit.filter((a) => (requested ?? implicit).includes(a));
    return audiences.length > 0 ? audiences : undefined;
  }

  #legacy(token: string, requested: string[] | undefined): Outcome {
    if (unverifiedIssuer(token) !== LEGACY_ISSUER) return NO_OPINION;
    const verified = this.#verify(token);
    if (!verified.ok) return verified;
    const audience = this.#checkAudience(verified.claims, requested);
    if (!audience.ok) return audience;
    const c = verified.claims;
    const str = (name: string) => (typeof c[name] === 'string' ? (c[name] as string) : '');
    const sub = str('sub');
    const namespace = str('kubernetes.io/serviceaccount/namespace');
    const secretName = str('kubernetes.io/serviceaccount/secret.name');
    const saName = str('kubernetes.io/serviceaccount/service-account.name');
    const saUid = str('kubernetes.io/serviceaccount/service-account.uid');
    if (!sub) return { ok: false, error: 'sub claim is missing' };
    if (!namespace) return { ok: false, error: 'namespace claim is missing' };
    if (!secretName) return { ok: false, error: 'secretName claim is missing' };
    if (!saName) return { ok: false, error: 'serviceAccountName claim is missing' };
    if (!saUid) return { ok: false, error: 'serviceAccountUID claim is missing' };
    if (sub !== serviceAccountUsername(namespace, saName))
      return { ok: false, error: 'sub claim is invalid' };

    const secret = this.#ctx.registry.get('Secret', namespace, secretName);
    if (!secret || secret.deletionTimestamp !== undefined)
      return { ok: false, error: 'Token has been invalidated' };
    if (secret.token !== token) return { ok: false, error: "Token does not match server's copy" };
    const sa = this.#ctx.registry.get('ServiceAccount', namespace, saName);
    if (!sa) return { ok: false, error: `serviceaccounts ${JSON.stringify(saName)} not found` };
    if (sa.deletionTimestamp !== undefined) {
      return { ok: false, error: `ServiceAccount ${namespace}/${saName} has been deleted` };
    }
    if (sa.uid !== saUid)
      return { ok: false, error: `ServiceAccount UID (${sa.uid}) does not match claim (${saUid})` };
    return {
      ok: true,
      user: {
        username: serviceAccountUsername(namespace, saName),
        uid: saUid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
        extra: {},
      },
      audiences: audience.audiences,
    };
  }

  #bound(token: string, requested: string[] | undefined): Outcome {
    const iss = unverifiedIssuer(token);
    if (iss === undefined || !this.#ctx.issuers().includes(iss)) return NO_OPINION;
    const verified = this.#verify(token);
    if (!verified.ok) return verified;
    const audience = this.#checkAudience(verified.claims, requested);
    if (!audience.ok) return audience;
    const validated = this.#validate(verified.claims);
    if (!validated.ok) return validated;
    return { ok: true, user: validated.user, audiences: audience.audiences };
  }

  /**
   * Signature check as go-jose does it with the apiserver's keys. 1.28 (go-jose v2 with raw keys):
   * every published key is tried, the `kid` plays no part. 1.29+ (go-jose v4 with a key set): a
   * `kid` selects the keys carrying it (none: `invalid signature, no keys found`), no `kid` tries
   * them all; any failure reads `error in cryptographic primitive`.
   */
  #verify(token: string): { ok: true; claims: Record<string, unknown> } | { ok: false; error?: string } {
    const jws: ParsedJws | undefined = parseJws(token);
    if (!jws?.payload) return NO_OPINION;
    const { jose, kidSelectsKeys } = this.#ctx.traits;
    const alg = typeof jws.header.alg === 'string' ? jws.header.alg : '';
    let keys = this.#ctx.keys.published();
    if (kidSelectsKeys && typeof jws.header.kid === 'string' && jws.header.kid !== '') {
      const kid = jws.header.kid;
      keys = keys.filter((key) => key.kid === kid);
      if (keys.length === 0) return { ok: false, error: 'invalid signature, no keys found' };
    }
    const errors: string[] = [];
    for (const key of keys) {
      const check = checkSignature(alg, jws.signingInput, jws.signature, key.publicKey);
      if (check === 'valid') {
        const typeError = claimTypeError(jws.payload, jose);
        if (typeError) {
          errors.push(typeError);
          continue;
        }
        return { ok: true, claims: jws.payload };
      }
      errors.push(
        check === 'unsupported' && !kidSelectsKeys
          ? `${jose}: unknown/unsupported algorithm`
          : `${jose}: error in cryptographic primitive`,
      );
    }
    return errors.length > 0 ? { ok: false, error: aggregateMessage(errors) } : NO_OPINION;
  }

  #checkAudience(
    claims: Record<string, unknown>,
    requested: string[] | undefined,
  ): { ok: true; audiences: string[] } | { ok: false; error: string } {
    const implicit = this.#ctx.apiAudiences();
    let tokenAudiences =
      typeof claims.aud === 'string' ? [claims.aud] : ((claims.aud as string[] | undefined) ?? []);
    // Only the apiserver's own audiences are allowed for tokens without `aud` (legacy tokens).
    if (tokenAudiences.length === 0) tokenAudiences = implicit;
    const target = requested ?? implicit;
    const audiences = tokenAudiences.filter((a) => target.includes(a));
    if (audiences.length === 0 && implicit.length !== 0) {
      return {
        ok: false,
        error: `token audiences ${goQuoteList(tokenAudiences)} is invalid for the target audiences ${goQuoteList(target)}`,
      };
    }
    return { ok: true, audiences };
  }

  /** `claims.go` Validate: time, then service account, secret, pod, node (and KEP-6060 webhook configurations). */
  #validate(claims: Record<string, unknown>): { ok: true; user: UserInfo } | { ok: false; error: string } {
    const now = this.#ctx.now();
    const leeway = this.#ctx.leewaySeconds * 1000;
    const time = (name: string) =>
      typeof claims[name] === 'number' ? (claims[name] as number) * 1000 : undefined;
    const nbf = time('nbf');
    const exp = time('exp');
    const iat = time('iat');
    if (nbf !== undefined && now + leeway < nbf)
      return { ok: false, error: 'service account token is not valid yet' };
    if (exp !== undefined && now - leeway > exp)
      return { ok: false, error: 'service account token has expired' };
    if (iat !== undefined && now + leeway < iat) {
      return { ok: false, error: 'service account token is issued in the future' };
    }

    const k8s = (claims['kubernetes.io'] ?? {}) as Record<string, unknown>;
    const ref = (name: string) => {
      const v = k8s[name] as { name?: unknown; uid?: unknown } | undefined;
      if (!v || typeof v !== 'object') return undefined;
      return { name: typeof v.name === 'string' ? v.name : '', uid: typeof v.uid === 'string' ? v.uid : '' };
    };
    const namespace = typeof k8s.namespace === 'string' ? k8s.namespace : '';
    const saRef = ref('serviceaccount') ?? { name: '', uid: '' };
    // Objects deleted gracefully stay valid until one leeway after their deletion timestamp.
    const gone = (o: StoredObject | undefined) =>
      !o || (o.deletionTimestamp !== undefined && o.deletionTimestamp < now - leeway);

    const sa = this.#ctx.registry.get('ServiceAccount', namespace, saRef.name);
    if (!sa) return { ok: false, error: `serviceaccounts ${JSON.stringify(saRef.name)} not found` };
    if (gone(sa)) return { ok: false, error: `service account ${namespace}/${saRef.name} has been deleted` };
    if (sa.uid !== saRef.uid) {
      return { ok: false, error: `service account UID (${sa.uid}) does not match claim (${saRef.uid})` };
    }

    const extra: Record<string, string[]> = {};
    const checkBound = (kind: ObjectKind, claim: string): string | undefined => {
      const r = ref(claim);
      if (!r) return undefined;
      const object = this.#ctx.registry.get(kind, namespace, r.name);
      if (gone(object)) return INVALID;
      if (object!.uid !== r.uid) {
        return `${claim} UID (${object!.uid}) does not match service account ${claim} ref claim (${r.uid})`;
      }
      return undefined;
    };

    const secretError = checkBound('Secret', 'secret');
    if (secretError) return { ok: false, error: secretError };
    const pod = ref('pod');
    if (pod) {
      const podError = checkBound('Pod', 'pod');
      if (podError) return { ok: false, error: podError };
      extra['authentication.kubernetes.io/pod-name'] = [pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [pod.uid];
    }
    const node = ref('node');
    if (node) {
      // Pod-bound tokens only carry the node they ran on; node-bound tokens are checked against the node.
      if (!pod) {
        if (!node.uid) return { ok: false, error: 'token is bound to a Node object but does not have a UID' };
        const nodeError = checkBound('Node', 'node');
        if (nodeError) return { ok: false, error: nodeError };
      }
      extra['authentication.kubernetes.io/node-name'] = [node.name];
      // A pod on a Node that does not exist gets `node: {name}` only, and so no node-uid extra.
      if (node.uid) extra['authentication.kubernetes.io/node-uid'] = [node.uid];
    }
    for (const [kind, claim] of [
      ['ValidatingWebhookConfiguration', 'validatingwebhookconfiguration'],
      ['MutatingWebhookConfiguration', 'mutatingwebhookconfiguration'],
    ] as const) {
      const webhook = ref(claim);
      if (!webhook) continue;
      const webhookError = checkBound(kind, claim);
      if (webhookError) return { ok: false, error: webhookError };
      extra[`authentication.kubernetes.io/${claim}-name`] = [webhook.name];
      extra[`authentication.kubernetes.io/${claim}-uid`] = [webhook.uid];
    }
    const attestations = k8s.attestations as { admissionReviewAPIGroups?: unknown } | undefined;
    if (attestations && Array.isArray(attestations.admissionReviewAPIGroups)) {
      extra['attestation.authentication.kubernetes.io/admissionReviewAPIGroups'] =
        attestations.admissionReviewAPIGroups.map(String);
    }
    if (typeof claims.jti === 'string' && claims.jti !== '') {
      extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
    }

    return {
      ok: true,
      user: {
        username: serviceAccountUsername(namespace, saRef.name),
        uid: saRef.uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
        extra,
      },
    };
  }
}

/** go-jose's errors for claims of the wrong JSON type. */
function claimTypeError(claims: Record<string, unknown>, jose: string): string | undefined {
  const aud = claims.aud;
  if (
    aud !== undefined &&
    typeof aud !== 'string' &&
    !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))
  ) {
    return `${jose}/jwt: expected string or array value to unmarshal to Audience`;
  }
  for (const name of ['exp', 'nbf', 'iat']) {
    if (claims[name] !== undefined && typeof claims[name] !== 'number') {
      return `${jose}/jwt: expected number value to unmarshal NumericDate`;
    }
  }
  return undefined;
}
