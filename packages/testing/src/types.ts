/**
 * Public types of `@apiserver-token/testing`.
 *
 * @packageDocumentation
 */
import type { KeyObject } from 'node:crypto';
import type { KubernetesVersion } from './version.js';

export type { KubernetesVersion } from './version.js';

/** JWS algorithms the kit can sign with. RSA keys are 2048-bit; EC keys use P-256, P-384 and P-521. */
export type SigningAlgorithm =
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512';

/** Kinds of object a token can be bound to (the `kubernetes.io` private claim it lands in). */
export type BoundObjectKind =
  | 'Pod'
  | 'Secret'
  | 'Node'
  | 'ValidatingWebhookConfiguration'
  | 'MutatingWebhookConfiguration';

/** Kinds of object the kit's object registry knows; deleting one revokes the tokens bound to it. */
export type ObjectKind = 'ServiceAccount' | BoundObjectKind;

/** The object a token is bound to. */
export interface BoundObjectRef {
  /** Kind of the object. */
  kind: BoundObjectKind;
  /** Name of the object. Pods and Secrets live in the token's namespace; the others are cluster-scoped. */
  name: string;
  /**
   * UID written into the token. Default: the UID of the object in the kit's registry, which is
   * created (with a random UID) if it does not exist yet.
   */
  uid?: string;
}

/** A Kubernetes `Status` object, as the kit returns it for errors. */
export interface KubernetesStatus {
  kind: 'Status';
  apiVersion: 'v1';
  /** Always empty. */
  metadata: Record<string, never>;
  status: 'Failure';
  /** Human-readable reason, in kube-apiserver's wording. */
  message: string;
  /** Machine-readable reason: `Unauthorized`, `Forbidden`, `NotFound`, `BadRequest`, `Invalid`, `TooManyRequests`, … */
  reason: string;
  /** The resource concerned, when there is one (absent on 401); `causes` on 422. */
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: Array<{ reason: string; message: string; field: string }>;
  };
  /** The HTTP status. */
  code: number;
}

/**
 * Endpoints the kit counts calls to and can inject faults into: discovery, JWKS, TokenReview,
 * SubjectAccessReview and TokenRequest.
 */
export type Endpoint =
  | 'openid-configuration'
  | 'jwks'
  | 'tokenreviews'
  | 'subjectaccessreviews'
  /** `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: what the caller itself may do. */
  | 'selfsubjectaccessreviews'
  /** `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token` (TokenRequest). */
  | 'tokenrequests';

/** A fault target: one endpoint, `discovery` (alias of `openid-configuration`) or `*` (every endpoint). */
export type FaultTarget = Endpoint | 'discovery' | '*';

/**
 * What goes wrong on an endpoint. Faults combine: `latencyMs` is waited first, then the first of
 * `down`, `reset`, `status`, `malformed` that is set decides the answer.
 */
export interface Fault {
  /** Destroy the connection as soon as the request arrives, without any response (client: `ECONNRESET`/"socket hang up"). */
  down?: boolean;
  /** Delay before answering, in milliseconds. Default 0. */
  latencyMs?: number;
  /** Answer with this HTTP status and a Kubernetes `Status` body (e.g. 429, 500, 502, 503, 504). */
  status?: number;
  /** `Retry-After` header value in seconds, sent with `status` (Kubernetes sends `1` with its 429s). */
  retryAfter?: number;
  /** Send the normal answer (status, headers) with its body cut in half: unparsable JSON. */
  malformed?: boolean;
  /** Send the status line, headers and a part of the body, then destroy the connection. */
  reset?: boolean;
  /** Apply to the next `times` requests only, then clear itself. Default: until `clearFaults()`. */
  times?: number;
}

/** Who may read `/.well-known/openid-configuration` and `/openid/v1/jwks`. */
export type DiscoveryAccess = 'anonymous' | 'authenticated';

/** Options of {@link startTestApiserver}. */
export interface TestApiserverOptions {
  /** TCP port on 127.0.0.1. Default `0` (a free port chosen by the OS). */
  port?: number;
  /**
   * Service-account issuer (`--service-account-issuer`), the `iss` of minted tokens and the
   * `issuer` of the discovery document. Default: {@link TestApiserver.url}, like a cluster whose
   * issuer is its own API server URL. When you set another issuer (e.g.
   * `https://kubernetes.default.svc.cluster.local`) the discovery document still advertises
   * `<issuer>/openid/v1/jwks` (set `jwksUri` to change that); fetch keys from {@link TestApiserver.jwksUrl}.
   */
  issuer?: string;
  /** Further issuers accepted by TokenReview (a real apiserver accepts every `--service-account-issuer` it is given). Default none. */
  acceptedIssuers?: string[];
  /** `jwks_uri` advertised by discovery (`--service-account-jwks-uri`). Default `<issuer>/openid/v1/jwks`. */
  jwksUri?: string;
  /**
   * The apiserver's own audiences (`--api-audiences`): what TokenReview checks when a review sends
   * no `spec.audiences`, and what callers' own tokens must carry. Default `[issuer]`.
   * An empty list disables audience checks entirely, as on a real apiserver.
   */
  apiAudiences?: string[];
  /**
   * Signing algorithms to create keys for at start; the first one signs by default, all of them
   * are published in the JWKS. Default `['RS256']`, like a real apiserver with an RSA key.
   * Minting with an algorithm not listed creates (and publishes) a key for it on first use.
   */
  algorithms?: SigningAlgorithm[];
  /**
   * Who may read discovery and the JWKS. A real kube-apiserver requires an authenticated caller
   * (the `system:service-account-issuer-discovery` ClusterRole is bound to service accounts only);
   * many managed clusters bind it to `system:unauthenticated`.
   * - `'anonymous'` (default, so that a verifier under test needs no credential): anyone.
   * - `'authenticated'`: callers without credentials get the recorded 403 `Status`.
   *
   * In both modes a caller that presents a bearer token the kit rejects gets 401, as on a real apiserver.
   */
  discovery?: DiscoveryAccess;
  /** `Cache-Control` max-age of discovery and JWKS responses, in seconds. Default 3600 (as kube-apiserver). */
  discoveryMaxAge?: number;
  /**
   * `--anonymous-auth`. Default `true`: requests without credentials run as `system:anonymous` and
   * are then refused with 403 where they lack permission. `false`: they get 401.
   */
  anonymousAuth?: boolean;
  /**
   * kube-apiserver's TokenReview success cache: a successful review (keyed by token and
   * audiences) is answered from memory for 10 s, which is why a deleted service account's, pod's
   * or secret's token still reviews as authenticated for ~10 s on a real cluster. Failures are
   * not cached. Default `true` (10 s), as a real apiserver. `false` makes a deletion take effect
   * at once (`api.clearTokenReviewCache()` does so once); a number sets the TTL in seconds.
   */
  tokenReviewCache?: boolean | number;
  /**
   * Clock of the kit, in milliseconds since the epoch: used for `iat` defaults, TokenReview time
   * checks, the review cache and key retirement. Default `Date.now`.
   */
  now?: () => number;
  /**
   * The kube-apiserver minor version to imitate where the recorded behaviour changed: `'1.28'`
   * (no `jti`, no pod `node` claim, `square/go-jose` error wording, every key tried whatever the
   * `kid`, `creationTimestamp: null` in review answers) or `'1.36'` (`jti` and `credential-id`,
   * `node` claim and extras, `go-jose/go-jose` wording, `kid` selects the key). Default `'1.36'`.
   */
  kubernetesVersion?: KubernetesVersion;
  /** Leeway on `exp`, `nbf` and `iat` in TokenReview, in seconds. Default 60 (as Kubernetes). */
  leewaySeconds?: number;
  /**
   * The user of the generated kubeconfig: a static-token user allowed to create TokenReviews and
   * SubjectAccessReviews (like a service account bound to `system:auth-delegator`).
   * Default `{ name: 'system:serviceaccount:kube-system:apiserver-token-reviewer', groups:
   * ['system:serviceaccounts', 'system:serviceaccounts:kube-system'] }` with a random token (so
   * that it may read discovery when `discovery: 'authenticated'`, as a service account may).
   */
  reviewer?: { name?: string; uid?: string; groups?: string[]; token?: string };
}

/** Options of {@link TestApiserver.mintToken}. */
export interface MintTokenOptions {
  /** Namespace of the service account. Default `'default'`. */
  namespace?: string;
  /** Name of the service account. Default `'default'`. */
  serviceAccount?: string;
  /**
   * UID of the service account written into the token. Default: the UID of the service account in
   * the kit's registry, which is created with a random UID if it does not exist yet.
   */
  serviceAccountUid?: string;
  /** `aud`. Default: the apiserver's audiences (like `kubectl create token` without `--audience`). */
  audiences?: string | string[];
  /** `iat` and `nbf`, in seconds since the epoch. Default: now (the kit's clock). */
  issuedAt?: number;
  /**
   * Lifetime in seconds: `exp = iat + expiresIn`. Default 3600. A pod-bound token of 3607 s for
   * the apiserver's own audiences (what the kubelet asks for) gets `exp` a year out and
   * `kubernetes.io.warnafter` = `iat + 3607`, as kube-apiserver extends it.
   */
  expiresIn?: number;
  /** `nbf`, in seconds since the epoch, when it must differ from `iat`. `null` omits the claim. */
  notBefore?: number | null;
  /** Binds the token to an object: Pod, Secret, Node, or a webhook configuration (KEP-6060). */
  boundObject?: BoundObjectRef;
  /**
   * Node claim of pod-bound tokens (Kubernetes 1.30+): `kubernetes.io.node {name, uid}`. For a Node-bound
   * token use `boundObject` instead. `uid` defaults to the registry's node UID. Default: for a Pod
   * created with `nodeName` (see `createObject`), that node — `{name}` alone if the Node does not exist.
   */
  node?: { name: string; uid?: string };
  /** KEP-6060 attestations: `kubernetes.io.attestations`. */
  attestations?: { admissionReviewAPIGroups?: string[] };
  /**
   * `jti` (Kubernetes 1.29+; TokenReview reports it as `credential-id: ["JTI=<jti>"]`). `true`
   * generates a random UUID, `false` omits the claim. Default: a random UUID, or none when the kit
   * imitates `kubernetesVersion: '1.28'`.
   */
  jti?: string | boolean;
  /** `kubernetes.io.warnafter`, in seconds since the epoch (kubelet-style tokens). Default absent. */
  warnAfter?: number;
  /** Signing algorithm. Default: the kit's first algorithm (`RS256` unless configured). */
  alg?: SigningAlgorithm;
  /** `iss`. Default: the kit's issuer. Set it to forge a token of another issuer. */
  issuer?: string;
  /** `kid` header. Default: the signing key's kid. `null` omits it. */
  kid?: string | null;
  /** Extra header parameters (e.g. `typ`, `jku`) for negative tests. */
  header?: Record<string, unknown>;
  /** Claims merged over the generated ones; a value of `undefined` removes a claim. */
  claims?: Record<string, unknown>;
  /**
   * Sign with a key the kit does not publish: `'foreign'` (a fresh key of the same algorithm,
   * with its own kid unless `kid` is set) or a PEM/`KeyObject` private key.
   */
  signWith?: 'foreign' | string | KeyObject;
  /**
   * Break the token after signing: `'signature'` flips bits in the signature, `'payload'` changes
   * `sub` while keeping the original signature.
   */
  tamper?: 'signature' | 'payload';
}

/** Options of {@link TestApiserver.mintWebhookToken}. */
export interface MintWebhookTokenOptions
  extends Omit<MintTokenOptions, 'audiences' | 'boundObject' | 'attestations'> {
  /** The webhook configuration the token is bound to. */
  webhook: {
    kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
    /** Name of the configuration. */
    name: string;
    /**
     * `boundObjectRef.uid`. Default: the configuration's. A configuration not in the kit's cluster
     * yet is created (with this UID when given); one with another UID answers 409.
     */
    uid?: string;
  };
  /**
   * The one audience: the webhook's URL verbatim, or a service reference turned into
   * `https://<name>.<namespace>.svc:<port><path>` (port 443, path `/` by default). Never one of
   * the apiserver's own audiences (400).
   */
  audience: string | WebhookServiceRef;
  /**
   * `kubernetes.io.attestations.admissionReviewAPIGroups`: exactly one API group, `*` for all
   * (what kube-apiserver uses; the core group `""` only that way). Default `['*']`.
   */
  apiGroups?: string[];
  /** Requested lifetime: at least 600 (422 below), shortened to 600 s. Default 3600 → 600. */
  expiresIn?: number;
}

/** A webhook's `clientConfig.service`. */
export interface WebhookServiceRef {
  /** Namespace of the Service. */
  namespace: string;
  /** Name of the Service. */
  name: string;
  /** Default 443. */
  port?: number;
  /** Default `/`. */
  path?: string;
}

/** Options of {@link TestApiserver.mintLegacyToken}. */
export interface MintLegacyTokenOptions {
  /** Default `'default'`. */
  namespace?: string;
  /** Default `'default'`. */
  serviceAccount?: string;
  /** Name of the `kubernetes.io/service-account-token` Secret. Default `<serviceAccount>-token`. */
  secretName?: string;
  /** Default: the registry's service account UID. */
  serviceAccountUid?: string;
  /** Default: the kit's first algorithm. */
  alg?: SigningAlgorithm;
}

/** Options of {@link TestApiserver.rotateKeys}. */
export interface RotateKeysOptions {
  /** Algorithm of the new key. Default: the algorithm of the current default key. */
  alg?: SigningAlgorithm;
  /**
   * How long the previous key of that algorithm stays published (and accepted by TokenReview), in
   * seconds of the kit's clock. Default: forever (until another rotation drops it). `0` drops it now.
   */
  overlapSeconds?: number;
}

/** A key the kit publishes. */
export interface PublishedKey {
  /** base64url(SHA-256(DER SubjectPublicKeyInfo)). */
  kid: string;
  /** The algorithm the key signs with (the JWK `alg`). */
  alg: SigningAlgorithm;
  /** Whether new tokens of this algorithm are signed with it. */
  active: boolean;
  /** When the key leaves the JWKS (ms since the epoch), if it was rotated out with an overlap. */
  retiresAt?: number;
}

/** A JSON Web Key as kube-apiserver publishes it. */
export interface PublicJwk {
  use: 'sig';
  kty: 'RSA' | 'EC';
  /** base64url(SHA-256(DER SubjectPublicKeyInfo)). */
  kid: string;
  /** EC curve: `P-256`, `P-384` or `P-521`. */
  crv?: string;
  alg: SigningAlgorithm;
  /** RSA modulus (base64url). */
  n?: string;
  /** RSA exponent (base64url). */
  e?: string;
  /** EC x coordinate (base64url). */
  x?: string;
  /** EC y coordinate (base64url). */
  y?: string;
}

/** Options of {@link TestApiserver.addUser}. */
export interface AddUserOptions {
  /** Username. */
  name: string;
  /** User UID. Default: none (omitted from TokenReview, like a static token without uid). */
  uid?: string;
  /** Groups; `system:authenticated` is added by the kit. Default `[]`. */
  groups?: string[];
  /** The static bearer token. Default: 40 random hex characters. */
  token?: string;
  /** May create TokenReviews and SubjectAccessReviews (`system:auth-delegator`). Default `false`. */
  canReview?: boolean;
}

/** Options of {@link TestApiserver.addBootstrapToken}. */
export interface BootstrapTokenOptions {
  /** `token-id`: 6 characters `[a-z0-9]`. Default: random. */
  id?: string;
  /** `token-secret`: 16 characters `[a-z0-9]`. Default: random. */
  secret?: string;
  /** `auth-extra-groups`, each starting `system:bootstrappers:`. Default `[]`. */
  extraGroups?: string[];
  /** `expiration`, in seconds since the epoch on the kit's clock. Default: none. */
  expiresAt?: number;
}

/** A static-token user of the kit. */
export interface TestUser {
  /** Username. */
  name: string;
  /** User UID, if set. */
  uid?: string;
  /** Groups as given (`system:authenticated` is added when the user authenticates). */
  groups: string[];
  /** The static bearer token. */
  token: string;
  /** Whether it may create TokenReviews, SubjectAccessReviews and tokens. */
  canReview: boolean;
  /** A kubeconfig for this user, in the kit's temporary directory (removed by `close()`). */
  kubeconfigPath: string;
}

/** A certificate and its key, PEM encoded. */
export interface IssuedCertificate {
  /** Leaf certificate (PEM). */
  cert: string;
  /** PKCS#8 private key (PEM). */
  key: string;
  /** The CA certificate that signed it (PEM). */
  ca: string;
}

/** Options of {@link TestApiserver.issueClientCertificate}. */
export interface ClientCertificateOptions {
  /** Subject CN: the username the kit (and Kubernetes) derive from the certificate. */
  commonName: string;
  /** Subject O values: the groups. Default `[]`. */
  organizations?: string[];
  /** Validity in seconds. Default 86400. */
  validitySeconds?: number;
}

/** Options of {@link TestApiserver.issueServerCertificate}. */
export interface ServerCertificateOptions {
  /** DNS subject alternative names. Default `['localhost']`. */
  dnsNames?: string[];
  /** IP subject alternative names. Default `['127.0.0.1', '::1']`. */
  ipAddresses?: string[];
  /** Subject CN. Default the first DNS name. */
  commonName?: string;
}

/** Attributes of a SubjectAccessReview, as the kit's authorizer sees them. */
export interface AccessAttributes {
  /** `spec.user` (may be empty when groups are given). */
  user: string;
  /** `spec.groups`. */
  groups: string[];
  /** `spec.uid`. */
  uid?: string;
  /** `spec.extra`. */
  extra?: Record<string, string[]>;
  /** Resource requests (`spec.resourceAttributes`); `group` is the API group, `''` for core. */
  resource?: {
    verb: string;
    group: string;
    version?: string;
    resource: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  /** Non-resource requests (e.g. `/healthz`). */
  nonResource?: { verb: string; path: string };
}

/** A decision of the kit's authorizer. */
export interface AccessDecision {
  /** `status.allowed`. */
  allowed: boolean;
  /** An explicit denial (`status.denied`), as opposed to "no opinion". */
  denied?: boolean;
  /** `status.reason`. */
  reason?: string;
  /** `status.evaluationError`. */
  evaluationError?: string;
}

/** A custom authorizer for SubjectAccessReviews. */
export type Authorizer = (
  attributes: AccessAttributes,
) => boolean | AccessDecision | Promise<boolean | AccessDecision>;

/**
 * A rule for {@link TestApiserver.allow} / {@link TestApiserver.deny}. Omitted fields match
 * anything; `'*'` matches anything too. One of `user` or `group` is required.
 */
export interface AccessRule {
  /** Subject username. */
  user?: string;
  /** Subject group (Kubernetes RBAC subject of kind Group). */
  group?: string;
  /** Verbs, e.g. `'create'`, `['get', 'list']`. */
  verb: string | string[];
  /** API group (`''` is the core group). */
  apiGroup?: string | string[];
  /** Resource, e.g. `'deployments'`. */
  resource?: string | string[];
  /** Subresource, e.g. `'status'`. */
  subresource?: string;
  /** Namespace. */
  namespace?: string;
  /** Object name. */
  name?: string;
  /** Non-resource URL path, e.g. `/healthz` (a trailing `*` matches a prefix). */
  path?: string;
  /**
   * Name of the (Cluster)RoleBinding the rule stands for, quoted in the SubjectAccessReview
   * `reason` (`RBAC: allowed by RoleBinding "<binding>/<ns>" of Role "<binding>" to …`).
   * Default `apiserver-token-testing:allow-<index>`.
   */
  binding?: string;
}

/** A request the kit received, for assertions. */
export interface RecordedRequest {
  /** Which endpoint it reached. */
  endpoint: Endpoint;
  /** HTTP method. */
  method: string;
  /** Path and query string. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (TokenReview / SubjectAccessReview), when there was one. */
  body?: unknown;
  /** Who the kit authenticated the caller as. */
  user: string;
  /** HTTP status the kit answered (0 when a fault dropped the connection). */
  status: number;
}
