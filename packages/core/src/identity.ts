/**
 * The identity of a verified caller, the same whichever way it was verified.
 *
 * @packageDocumentation
 */

/** How an identity was established. */
export type VerifiedBy = 'jwks' | 'tokenreview' | 'hybrid' | 'client-certificate';

/** Kinds of object a Kubernetes token can be bound to. */
export type BoundObjectKind =
  | 'Pod'
  | 'Secret'
  | 'Node'
  | 'ValidatingWebhookConfiguration'
  | 'MutatingWebhookConfiguration'
  | 'APIService';

/** The object a bound service-account token is tied to; deleting it revokes the token. */
export interface BoundObject {
  kind: BoundObjectKind;
  name: string;
  /** Present when the token or TokenReview states it. */
  uid?: string;
  /** Namespace of namespaced objects (Pod, Secret). */
  namespace?: string;
}

/** A Kubernetes service account, `system:serviceaccount:<namespace>:<name>`. */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
  /** Present when the token or TokenReview states it. */
  uid?: string;
}

/** Attestations carried by a webhook-bound token (KEP-6060). */
export interface Attestations {
  /** API groups the token may send AdmissionReviews about; `*` means all, `""` is the core group. */
  admissionReviewAPIGroups?: string[];
}

/** A verified client certificate (`clientCertificate` option): the TLS peer's leaf certificate. */
export interface ClientCertificateInfo {
  /** Subject CN: the username Kubernetes derives from the certificate. */
  commonName: string;
  /** Subject O values: the groups. */
  organizations: string[];
  /** SHA-256 fingerprint of the DER certificate, colon-separated hex as Node prints it. */
  fingerprint256: string;
  /** End of the certificate's validity. */
  validTo: Date;
}

/**
 * The originating identity of a request, attached by the adapters to
 * `req.apiserver` (Express), `ctx.state.apiserver` (Koa) or `request.apiserver` (Fastify).
 */
export interface ApiserverIdentity {
  /** Kubernetes username, e.g. `system:serviceaccount:kube-system:webhook-auth` or `admin`. */
  username: string;
  /** Kubernetes user uid, when known. */
  uid?: string;
  /** Kubernetes groups (service accounts: `system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`). */
  groups: string[];
  /** Extra attributes in TokenReview shape, e.g. `authentication.kubernetes.io/pod-name`, `…/credential-id`. */
  extra: Record<string, string[]>;
  /** Set when the caller is a service account. Not every authenticated user is one. */
  serviceAccount?: ServiceAccountRef;
  /** The object the token is bound to, if any. */
  boundObject?: BoundObject;
  /** Node the bound pod runs on (Kubernetes 1.30+ tokens). */
  node?: { name: string; uid?: string };
  /** KEP-6060 attestations, if the token carries any. */
  attestations?: Attestations;
  /** The token's `iss`; absent for identities verified by TokenReview alone when the token was opaque. */
  issuer?: string;
  /**
   * For a legacy secret-based token (`allowLegacyTokens`), whose `issuer` is
   * `kubernetes/serviceaccount` in every cluster: the configured issuer whose key verified it,
   * that is which cluster signed it. Absent for every other token.
   */
  signingIssuer?: string;
  /** Audiences the token is valid for that we accepted (the overlap with ours). */
  audiences: string[];
  /** Token `iat`, as a Date, when known. */
  issuedAt?: Date;
  /** Token `exp`, as a Date, when known. */
  expiresAt?: Date;
  /** Token `kubernetes.io.warnafter`: the kubelet would have refreshed the token by then. */
  staleAfter?: Date;
  /**
   * The client certificate the TLS peer presented and that was verified (`clientCertificate`
   * option). With `verifiedBy: 'client-certificate'` it is the only credential; with
   * `clientCertificate.mode: 'require'` it accompanies the token identity.
   */
  clientCertificate?: ClientCertificateInfo;
  /** How the identity was verified. */
  verifiedBy: VerifiedBy;
  /** Short, non-reversible fingerprint of the token (of the certificate for `client-certificate`); safe to log. */
  tokenFingerprint: string;
}
