import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapBindings } from './auth/bootstrap-policy.js';
import { TokenAuthenticator, type TokenAuthResult } from './auth/token-authenticator.js';
import { UserDirectory } from './auth/users.js';
import { RuleAuthorizer } from './authorizer.js';
import { ENDPOINTS, FaultTable, faultKey } from './faults.js';
import { createRequestHandler } from './http/server.js';
import { Minter } from './jwt/minter.js';
import { isSigningAlgorithm } from './keys/algorithms.js';
import { KeySet } from './keys/key-set.js';
import { renderKubeconfig } from './kubeconfig.js';
import { forgetOnExit, removeOnExit } from './lib/exit-cleanup.js';
import { newStaticToken } from './lib/ids.js';
import { ObjectRegistry } from './registry.js';
import { ReviewCache } from './reviews/review-cache.js';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
} from './tls/certificates.js';
import type {
  AccessRule,
  AddUserOptions,
  Authorizer,
  BootstrapTokenOptions,
  ClientCertificateOptions,
  Endpoint,
  Fault,
  FaultTarget,
  IssuedCertificate,
  MintLegacyTokenOptions,
  MintTokenOptions,
  MintWebhookTokenOptions,
  ObjectKind,
  PublicJwk,
  PublishedKey,
  RecordedRequest,
  RotateKeysOptions,
  ServerCertificateOptions,
  TestApiserverOptions,
  TestUser,
  WebhookServiceRef,
} from './types.js';
import {
  isKubernetesVersion,
  KUBERNETES_VERSIONS,
  type KubernetesVersion,
  NEWEST_VERSION,
  traitsOf,
  type VersionTraits,
} from './version.js';
import { webhookAudience } from './webhook-audience.js';
import { type CallWebhookOptions, callWebhook, WebhookAgents, type WebhookResponse } from './webhook-call.js';
import { issueWebhookToken } from './webhook-token-issuance.js';

const OBJECT_KINDS: readonly ObjectKind[] = [
  'ServiceAccount',
  'Pod',
  'Secret',
  'Node',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
];
const MAX_RECORDED = 1000;
const DEFAULT_REVIEWER = 'system:serviceaccount:kube-system:apiserver-token-reviewer';

/** The user written into a kubeconfig: a bearer token or a client certificate. */
export interface KubeconfigUser {
  name: string;
  token?: string;
  clientCertificate?: { cert: string; key: string };
}

async function writeKubeconfigFile(
  dir: string,
  server: string,
  caPem: string,
  user: KubeconfigUser,
): Promise<string> {
  const safe = user.name.replace(/[^A-Za-z0-9._-]/g, '_');
  const path = join(dir, `kubeconfig-${safe}-${randomBytes(4).toString('hex')}.yaml`);
  await writeFile(
    path,
    renderKubeconfig({
      server,
      caPem,
      clusterName: 'apiserver-token-test',
      userName: user.name,
      ...(user.token !== undefined ? { token: user.token } : {}),
      ...(user.clientCertificate ? { clientCertificate: user.clientCertificate } : {}),
    }),
    { mode: 0o600 },
  );
  return path;
}

/** Internal pieces handed from {@link startTestApiserver} to the instance. */
interface Parts {
  options: TestApiserverOptions;
  server: Server;
  url: string;
  port: number;
  issuer: string;
  jwksUri: string;
  apiAudiences: string[];
  ca: CertificateAuthority;
  clientCa: CertificateAuthority;
  dir: string;
  keys: KeySet;
  registry: ObjectRegistry;
  minter: Minter;
  users: UserDirectory;
  authenticator: TokenAuthenticator;
  authorizer: RuleAuthorizer;
  faults: FaultTable;
  cache: ReviewCache | undefined;
  counters: Record<Endpoint, number>;
  recorded: RecordedRequest[];
  timers: Set<{ timer: NodeJS.Timeout; resolve: () => void }>;
  now: () => number;
  traits: VersionTraits;
}

/**
 * A running local kube-apiserver stand-in: OIDC discovery, JWKS, TokenReview and
 * SubjectAccessReview over real HTTPS on 127.0.0.1, with its own CA, signing keys and a
 * pretend cluster of service accounts and bound objects. Create it with {@link startTestApiserver}.
 */
export class TestApiserver {
  /** Base URL, `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** Service-account issuer: `iss` of minted tokens and `issuer` of the discovery document. */
  readonly issuer: string;
  /** `jwks_uri` advertised by discovery. */
  readonly jwksUri: string;
  /** Where the JWKS is actually served: `<url>/openid/v1/jwks` (equals `jwksUri` unless you overrode issuer or jwksUri). */
  readonly jwksUrl: string;
  /** `<url>/.well-known/openid-configuration`. */
  readonly discoveryUrl: string;
  /** The apiserver's own audiences (`--api-audiences`). */
  readonly apiAudiences: readonly string[];
  /** PEM of the CA that signed the server certificate: trust it to talk to {@link url}. */
  readonly ca: string;
  /** Path of a file holding {@link ca} (in the kit's temporary directory). */
  readonly caPath: string;
  /** PEM of the client CA (`--client-ca-file`): client certificates it signs authenticate to the kit. */
  readonly clientCa: string;
  /** Path of a kubeconfig for the privileged reviewer (TokenReview and SubjectAccessReview allowed). */
  readonly kubeconfigPath: string;
  /** The reviewer user of {@link kubeconfigPath}. */
  readonly reviewer: TestUser;
  /** Temporary directory holding the kit's files; removed by {@link close}, or at process exit. */
  readonly tempDir: string;
  /** The kube-apiserver version imitated (see `TestApiserverOptions.kubernetesVersion`). */
  readonly kubernetesVersion: KubernetesVersion;

  readonly #p: Parts;
  readonly #minter: Minter;
  /** The admission client's kept-alive connections to webhooks; closed with the kit. */
  readonly #webhookAgents = new WebhookAgents();
  #closed = false;

  /** @internal Use {@link startTestApiserver}. */
  constructor(parts: Parts, reviewer: TestUser) {
    this.#p = parts;
    this.url = parts.url;
    this.port = parts.port;
    this.issuer = parts.issuer;
    this.jwksUri = parts.jwksUri;
    this.jwksUrl = `${parts.url}/openid/v1/jwks`;
    this.discoveryUrl = `${parts.url}/.well-known/openid-configuration`;
    this.apiAudiences = parts.apiAudiences;
    this.ca = parts.ca.pem;
    this.caPath = join(parts.dir, 'ca.crt');
    this.clientCa = parts.clientCa.pem;
    this.kubeconfigPath = reviewer.kubeconfigPath;
    this.reviewer = reviewer;
    this.tempDir = parts.dir;
    this.kubernetesVersion = parts.traits.version;
    this.#minter = parts.minter;
  }

  // ---- tokens -------------------------------------------------------------------------------

  /**
   * Mints a service-account token in kube-apiserver's layout (header `{alg, kid}`, `aud` array,
   * `nbf` = `iat`, `sub` = `system:serviceaccount:<ns>:<name>`, private claims under
   * `kubernetes.io`). The service account and any bound object are created in the kit's registry
   * if missing, so the token passes TokenReview until you delete them.
   *
   * @example
   * const token = await api.mintToken({ namespace: 'kube-system', serviceAccount: 'webhook-auth',
   *   audiences: ['https://my-webhook.my-ns.svc:443/validate'], expiresIn: 600 });
   */
  async mintToken(options: MintTokenOptions = {}): Promise<string> {
    this.#assertAlg(options.alg, 'mintToken');
    return this.#minter.mint(options);
  }

  /**
   * Issues a KEP-6060 webhook token as Kubernetes 1.37's TokenRequest does: one audience (the
   * webhook URL, or `https://<svc>.<ns>.svc:<port><path>`) that is not the apiserver's own (400),
   * a lifetime shortened to 600 s (less than 600 s requested: 422), bound to the webhook
   * configuration (`kubernetes.io.validatingwebhookconfiguration` or `.mutatingwebhookconfiguration`)
   * and attesting one API group (`kubernetes.io.attestations.admissionReviewAPIGroups`; not `""`: 422).
   * The service account (default `kube-system:webhook-auth`, which holds the permission) needs
   * `attest` on `admissionReviewAPIGroups` in `authentication.k8s.io` named after the group (403):
   * `allow({ user, verb: 'attest', apiGroup: 'authentication.k8s.io', resource: 'admissionReviewAPIGroups', name: 'apps' })`.
   * A deleted configuration is refused (403 `token request denied`), and so is a group other than
   * `*` that no webhook of the configuration (`createObject(kind, '', name, { webhooks })`) has in
   * its rules for that audience. Other {@link MintTokenOptions} fields (e.g. `issuedAt`, `signWith`)
   * pass through; `mintToken` still forges anything.
   * @throws KubernetesStatusError with the `Status` kube-apiserver would answer (400, 403, 404, 409, 422).
   */
  async mintWebhookToken(options: MintWebhookTokenOptions): Promise<string> {
    this.#assertAlg(options?.alg, 'mintWebhookToken');
    return issueWebhookToken(options, {
      minter: this.#minter,
      registry: this.#p.registry,
      authorizer: this.#p.authorizer,
      apiAudiences: () => this.apiAudiences,
      now: this.#p.now,
    });
  }

  /**
   * Mints a legacy Secret-based token (`iss: kubernetes/serviceaccount`, no `aud`, no `exp`) and
   * stores it in the Secret, as the token controller did. TokenReview accepts it only for the
   * apiserver's own audiences, and rejects it once the Secret is deleted.
   */
  async mintLegacyToken(options: MintLegacyTokenOptions = {}): Promise<string> {
    this.#assertAlg(options.alg, 'mintLegacyToken');
    return this.#minter.mintLegacy(options);
  }

  /**
   * Rotates the signing key of one algorithm. The previous key stays in the JWKS (and is still
   * accepted by TokenReview) for `overlapSeconds` (default: until the next rotation), like a real
   * key rollout; `overlapSeconds: 0` drops it at once.
   * @returns the new key's kid.
   */
  rotateKeys(options: RotateKeysOptions = {}): string {
    this.#assertAlg(options.alg, 'rotateKeys');
    if (options.overlapSeconds !== undefined && !(options.overlapSeconds >= 0)) {
      throw new TypeError('rotateKeys: overlapSeconds must be a number of seconds >= 0');
    }
    return this.#p.keys.rotate(options.alg, options.overlapSeconds).kid;
  }

  /** Removes a key from the JWKS (and from TokenReview) now. @returns whether it was published. */
  dropKey(kid: string): boolean {
    return this.#p.keys.drop(kid);
  }

  /** The keys currently published, with the active one of each algorithm flagged. */
  keys(): PublishedKey[] {
    return this.#p.keys.list();
  }

  /** The JWKS as served at {@link jwksUrl}. */
  jwks(): { keys: PublicJwk[] } {
    return this.#p.keys.jwks();
  }

  // ---- pretend cluster ----------------------------------------------------------------------

  /**
   * Creates (or re-creates) an object of the pretend cluster. Re-creating gives it a new UID, so
   * tokens bound to the old one fail TokenReview with the UID-mismatch message.
   * @param namespace ignored for cluster-scoped kinds (Node, webhook configurations): pass `''`.
   * @param options.uid the object's UID. Default: a random UUID.
   * @param options.serviceAccount a Pod's `spec.serviceAccountName`: TokenRequest then refuses to
   *   bind another service account's token to it (400, as kube-apiserver). Default: unset (any).
   * @param options.nodeName a Pod's `spec.nodeName`: tokens bound to the pod carry
   *   `kubernetes.io.node` (1.36), `{name}` alone while that Node does not exist.
   * @param options.webhooks a webhook configuration's webhooks: each one's `clientConfig` (`url`
   *   or `service`) and the `apiGroups` of its rules. {@link mintWebhookToken} attests a group other
   *   than `*` only for an audience and group one of them matches. Unset: the test does not
   *   describe them, and any audience and group match.
   * @returns the object's UID.
   */
  createObject(
    kind: ObjectKind,
    namespace: string,
    name: string,
    options: {
      uid?: string;
      serviceAccount?: string;
      nodeName?: string;
      webhooks?: Array<{ url?: string; service?: WebhookServiceRef; apiGroups: string[] }>;
    } = {},
  ): { uid: string } {
    this.#assertKind(kind, 'createObject');
    if ((options.serviceAccount !== undefined || options.nodeName !== undefined) && kind !== 'Pod') {
      throw new TypeError('createObject: serviceAccount and nodeName are fields of a Pod');
    }
    if (
      options.webhooks !== undefined &&
      kind !== 'ValidatingWebhookConfiguration' &&
      kind !== 'MutatingWebhookConfiguration'
    ) {
      throw new TypeError('createObject: webhooks belong to a webhook configuration');
    }
    const webhooks = options.webhooks?.map((w) => {
      if ((w?.url === undefined) === (w?.service === undefined)) {
        throw new TypeError(
          'createObject: each webhook needs a url or a service (its clientConfig), not both',
        );
      }
      if (!Array.isArray(w.apiGroups) || w.apiGroups.some((g) => typeof g !== 'string')) {
        throw new TypeError(
          "createObject: a webhook's apiGroups is the list of its rules' API groups ('*' = any)",
        );
      }
      return { audience: webhookAudience((w.url ?? w.service)!), apiGroups: w.apiGroups };
    });
    return {
      uid: this.#p.registry.create(kind, namespace, name, options.uid, {
        ...(options.serviceAccount ? { serviceAccountName: options.serviceAccount } : {}),
        ...(options.nodeName ? { nodeName: options.nodeName } : {}),
        ...(webhooks ? { webhooks } : {}),
      }).uid,
    };
  }

  /**
   * Deletes an object; TokenReview then rejects tokens bound to it the way a real apiserver does
   * (`serviceaccounts "x" not found`, `service account token has been invalidated`, `Token has been
   * invalidated` for legacy tokens). With `pending: true` the object only gets a deletion timestamp
   * (a graceful deletion in progress); its tokens stay valid for one leeway (60 s) after it.
   * @returns whether the object existed.
   */
  deleteObject(
    kind: ObjectKind,
    namespace: string,
    name: string,
    options: { pending?: boolean } = {},
  ): boolean {
    this.#assertKind(kind, 'deleteObject');
    return this.#p.registry.delete(kind, namespace, name, options.pending ? this.#p.now() : undefined);
  }

  /** An object of the pretend cluster, if it exists. */
  getObject(
    kind: ObjectKind,
    namespace: string,
    name: string,
  ): { uid: string; deletionTimestamp?: number } | undefined {
    const object = this.#p.registry.get(kind, namespace, name);
    return object
      ? {
          uid: object.uid,
          ...(object.deletionTimestamp !== undefined ? { deletionTimestamp: object.deletionTimestamp } : {}),
        }
      : undefined;
  }

  // ---- callers and authorization ----------------------------------------------------------

  /**
   * Adds a bootstrap token (`kubeadm token create` style): the Secret
   * `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`, usable for
   * authentication. TokenReview then authenticates `<id>.<secret>` for the apiserver's own
   * audiences only, as `system:bootstrap:<id>` in `system:bootstrappers` (and the extra groups),
   * without uid; any other audience gets plain `invalid bearer token`, as recorded. Deleting the
   * Secret (`deleteObject('Secret', 'kube-system', 'bootstrap-token-<id>')`) or reaching
   * `expiresAt` ends it.
   * @returns the bearer token, `<id>.<secret>`.
   */
  addBootstrapToken(options: BootstrapTokenOptions = {}): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    const random = (n: number) => Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');
    const id = options.id ?? random(6);
    const secret = options.secret ?? random(16);
    if (!/^[a-z0-9]{6}$/.test(id)) throw new TypeError('addBootstrapToken: id must be 6 characters [a-z0-9]');
    if (!/^[a-z0-9]{16}$/.test(secret)) {
      throw new TypeError('addBootstrapToken: secret must be 16 characters [a-z0-9]');
    }
    const extraGroups = options.extraGroups ?? [];
    if (
      !Array.isArray(extraGroups) ||
      extraGroups.some((g) => !/^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/.test(g))
    ) {
      throw new TypeError('addBootstrapToken: extraGroups must each start with system:bootstrappers:');
    }
    if (options.expiresAt !== undefined && !Number.isFinite(options.expiresAt)) {
      throw new TypeError('addBootstrapToken: expiresAt is seconds since the epoch');
    }
    const stored = this.#p.registry.create('Secret', 'kube-system', `bootstrap-token-${id}`);
    stored.bootstrap = {
      secret,
      extraGroups: [...extraGroups],
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt * 1000 } : {}),
    };
    return `${id}.${secret}`;
  }

  /**
   * Adds a static-token user (`--token-auth-file` style). Without `canReview` it can authenticate
   * but gets 403 on TokenReview and SubjectAccessReview, like a caller missing `system:auth-delegator`.
   * Also writes a kubeconfig for the user.
   */
  async addUser(options: AddUserOptions): Promise<TestUser> {
    if (!options || typeof options.name !== 'string' || options.name === '') {
      throw new TypeError('addUser: name is required (the username TokenReview reports)');
    }
    const token = options.token ?? newStaticToken();
    if (typeof token !== 'string' || token === '' || /\s/.test(token)) {
      throw new TypeError('addUser: token must be a non-empty string without whitespace');
    }
    const user = {
      name: options.name,
      ...(options.uid ? { uid: options.uid } : {}),
      groups: [...(options.groups ?? [])],
      token,
    };
    this.#p.users.add(user, options.canReview === true);
    const kubeconfigPath = await this.writeKubeconfig({ name: options.name, token });
    return { ...user, canReview: options.canReview === true, kubeconfigPath };
  }

  /** Lets a user or group create TokenReviews and SubjectAccessReviews (e.g. a service account you mint tokens for). */
  grantReview(subject: { user?: string; group?: string }): void {
    if (!subject?.user && !subject?.group) throw new TypeError('grantReview: set user or group');
    this.#p.users.grantReview(subject);
  }

  /** Withdraws {@link grantReview}. */
  revokeReview(subject: { user?: string; group?: string }): void {
    this.#p.users.revokeReview(subject);
  }

  /**
   * Writes a kubeconfig for this apiserver into the temporary directory: with a bearer token, or a
   * client certificate (e.g. from {@link issueClientCertificate}). @returns its path.
   */
  async writeKubeconfig(user: KubeconfigUser): Promise<string> {
    return writeKubeconfigFile(this.#p.dir, this.url, this.ca, user);
  }

  /** Writes a file (e.g. a token file a verifier re-reads) into the temporary directory. @returns its path. */
  async writeFile(name: string, content: string): Promise<string> {
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.') {
      throw new TypeError('writeFile: name must be a plain file name');
    }
    const path = join(this.#p.dir, name);
    await writeFile(path, content, { mode: 0o600 });
    return path;
  }

  /** SubjectAccessReview: allow what matches the rule (see {@link AccessRule}). */
  allow(rule: AccessRule): void {
    this.#p.authorizer.allow(rule);
  }

  /** SubjectAccessReview: explicitly deny what matches (`status.denied: true`); deny rules win over allow rules. */
  deny(rule: AccessRule): void {
    this.#p.authorizer.deny(rule);
  }

  /** SubjectAccessReview: decide with a function instead of the rules (`undefined` restores the rules). A throw becomes `evaluationError`. */
  setAuthorizer(fn: Authorizer | undefined): void {
    this.#p.authorizer.set(fn);
  }

  /** Removes every SubjectAccessReview rule and the custom authorizer. */
  resetAuthorizer(): void {
    this.#p.authorizer.reset();
  }

  // ---- certificates -----------------------------------------------------------------------

  /**
   * Issues a client certificate (EKU clientAuth, ECDSA P-256) signed by the kit's client CA:
   * CN is the username, O the groups. The kit itself accepts it as a caller, and `ca` is what a
   * server checking `--proxy-client-cert-file`-style client certificates must trust.
   */
  async issueClientCertificate(options: ClientCertificateOptions): Promise<IssuedCertificate> {
    if (!options || typeof options.commonName !== 'string' || options.commonName === '') {
      throw new TypeError('issueClientCertificate: commonName is required (the username)');
    }
    return issueCertificate(this.#p.clientCa, {
      commonName: options.commonName,
      organizations: options.organizations ?? [],
      usage: 'client',
      ...(options.validitySeconds !== undefined ? { validitySeconds: options.validitySeconds } : {}),
    });
  }

  /** Issues a server certificate signed by the kit's CA ({@link ca}), e.g. for the webhook under test. */
  async issueServerCertificate(options: ServerCertificateOptions = {}): Promise<IssuedCertificate> {
    const dnsNames = options.dnsNames ?? ['localhost'];
    return issueCertificate(this.#p.ca, {
      commonName: options.commonName ?? dnsNames[0] ?? 'localhost',
      dnsNames,
      ipAddresses: options.ipAddresses ?? ['127.0.0.1', '::1'],
      usage: 'server',
    });
  }

  // ---- calling the webhook under test -----------------------------------------------------

  /**
   * Calls a webhook the way kube-apiserver does (headers and `?timeout=` as recorded from a real
   * admission call), trusting the kit's CA unless `ca` is given.
   *
   * @example
   * const res = await api.callWebhook('https://127.0.0.1:8443/validate', {
   *   token: await api.mintWebhookToken({ webhook, audience: 'https://127.0.0.1:8443/validate' }),
   *   body: admissionReview({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
   *     resource: { group: 'apps', version: 'v1', resource: 'deployments' }, namespace: 'demo', name: 'web' }),
   * });
   */
  callWebhook(url: string, options: CallWebhookOptions): Promise<WebhookResponse> {
    return callWebhook(url, { ...options, ca: options.ca ?? this.ca }, this.#webhookAgents);
  }

  // ---- observing and breaking --------------------------------------------------------------

  /**
   * How many requests an endpoint received (faulted ones included); without an argument, all counters.
   * `discovery` is accepted as an alias of `openid-configuration`.
   */
  calls(): Record<Endpoint, number>;
  calls(endpoint: Endpoint | 'discovery'): number;
  calls(endpoint?: Endpoint | 'discovery'): number | Record<Endpoint, number> {
    if (endpoint === undefined) return { ...this.#p.counters };
    const key = faultKey(endpoint);
    if (key === '*') throw new TypeError('calls: name one endpoint');
    return this.#p.counters[key];
  }

  /** Resets the counters and the recorded requests. */
  resetCalls(): void {
    for (const e of ENDPOINTS) this.#p.counters[e] = 0;
    this.#p.recorded.length = 0;
  }

  /** Requests received (the last 1000), optionally for one endpoint, oldest first. Bodies include the reviewed tokens: keep them out of logs. */
  requests(endpoint?: Endpoint | 'discovery'): RecordedRequest[] {
    const key = endpoint === undefined ? undefined : faultKey(endpoint);
    return this.#p.recorded.filter((r) => key === undefined || key === '*' || r.endpoint === key);
  }

  /** Faults currently set, by target. */
  get faults(): Partial<Record<Endpoint | '*', Fault>> {
    return this.#p.faults.snapshot();
  }

  /** Makes an endpoint (or `*`, every endpoint) misbehave; see {@link Fault}. Replaces that target's previous fault. */
  setFault(target: FaultTarget, fault: Fault): void {
    this.#p.faults.set(target, fault);
  }

  /** Clears one target's fault, or all of them. */
  clearFaults(target?: FaultTarget): void {
    this.#p.faults.clear(target);
  }

  /** Forgets cached TokenReview successes, so that a deletion made since takes effect now. */
  clearTokenReviewCache(): void {
    this.#p.cache?.clear();
  }

  /**
   * Runs the kit's TokenReview logic in-process, without HTTP or caller checks: what
   * `status` would say for this token and these `spec.audiences`.
   */
  reviewToken(token: string, audiences?: string[]): TokenAuthResult {
    const implicit = this.#p.apiAudiences;
    const requested =
      audiences && audiences.length > 0 ? audiences : implicit.length > 0 ? implicit : undefined;
    return this.#p.authenticator.authenticate(token, requested);
  }

  /** Stops the server (open connections are cut), and removes the temporary directory. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#webhookAgents.destroy();
    for (const pending of this.#p.timers) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.#p.timers.clear();
    const closed = new Promise<void>((resolve) => this.#p.server.close(() => resolve()));
    this.#p.server.closeAllConnections();
    await closed;
    await rm(this.#p.dir, { recursive: true, force: true });
    forgetOnExit(this.#p.dir);
  }

  /** `await using api = await startTestApiserver()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertAlg(alg: unknown, method: string): void {
    if (alg !== undefined && !isSigningAlgorithm(alg)) {
      throw new TypeError(
        `${method}: alg ${JSON.stringify(alg)} is not supported; use RS256/384/512, PS256/384/512 or ES256/384/512`,
      );
    }
  }

  #assertKind(kind: unknown, method: string): void {
    if (!OBJECT_KINDS.includes(kind as ObjectKind)) {
      throw new TypeError(`${method}: kind must be one of ${OBJECT_KINDS.join(', ')}`);
    }
  }
}

function validateOptions(o: TestApiserverOptions): void {
  const fail = (field: string, what: string) => {
    throw new TypeError(`startTestApiserver: ${field} ${what}`);
  };
  if (o.port !== undefined && !(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535))
    fail('port', 'must be an integer 0-65535');
  if (o.issuer !== undefined && (typeof o.issuer !== 'string' || o.issuer === ''))
    fail('issuer', 'must be a non-empty string');
  if (
    o.apiAudiences !== undefined &&
    !(Array.isArray(o.apiAudiences) && o.apiAudiences.every((a) => typeof a === 'string'))
  ) {
    fail('apiAudiences', 'must be an array of strings');
  }
  if (
    o.algorithms !== undefined &&
    !(Array.isArray(o.algorithms) && o.algorithms.every(isSigningAlgorithm))
  ) {
    fail('algorithms', 'must list RS256/384/512, PS256/384/512 or ES256/384/512');
  }
  if (o.discovery !== undefined && o.discovery !== 'anonymous' && o.discovery !== 'authenticated') {
    fail('discovery', "must be 'anonymous' or 'authenticated'");
  }
  if (o.discoveryMaxAge !== undefined && !(Number.isInteger(o.discoveryMaxAge) && o.discoveryMaxAge >= 0)) {
    fail('discoveryMaxAge', 'must be a whole number of seconds >= 0');
  }
  if (o.leewaySeconds !== undefined && !(o.leewaySeconds >= 0))
    fail('leewaySeconds', 'must be a number of seconds >= 0');
  if (typeof o.tokenReviewCache === 'number' && !(o.tokenReviewCache > 0))
    fail('tokenReviewCache', 'must be true, false or a TTL in seconds > 0');
  if (o.kubernetesVersion !== undefined && !isKubernetesVersion(o.kubernetesVersion))
    fail('kubernetesVersion', `must be one of ${KUBERNETES_VERSIONS.map((v) => `'${v}'`).join(', ')}`);
  if (o.now !== undefined && typeof o.now !== 'function')
    fail('now', 'must be a function returning milliseconds since the epoch');
}

/**
 * Starts a local kube-apiserver stand-in over HTTPS on 127.0.0.1 (a free port by default),
 * with a CA, a server certificate for 127.0.0.1/localhost, signing keys, a kubeconfig for a
 * privileged reviewer, OIDC discovery, JWKS, TokenReview and SubjectAccessReview.
 * Call {@link TestApiserver.close} when done.
 *
 * @example
 * const api = await startTestApiserver();
 * const token = await api.mintToken({ audiences: ['https://my-webhook.my-ns.svc:443/validate'] });
 * // … point your verifier at api.issuer / api.jwksUrl (trusting api.ca) or api.kubeconfigPath …
 * await api.close();
 */
export async function startTestApiserver(options: TestApiserverOptions = {}): Promise<TestApiserver> {
  validateOptions(options);
  const now = options.now ?? Date.now;
  const [ca, clientCa] = await Promise.all([
    createCertificateAuthority('apiserver-token-testing-ca'),
    createCertificateAuthority('apiserver-token-testing-client-ca'),
  ]);
  const serverCert = await issueCertificate(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    usage: 'server',
  });
  const dir = await mkdtemp(join(tmpdir(), 'apiserver-token-testing-'));
  removeOnExit(dir);
  let server: Server | undefined;
  try {
    await writeFile(join(dir, 'ca.crt'), ca.pem);
    const keys = new KeySet(options.algorithms ?? ['RS256'], now);
    const registry = new ObjectRegistry();
    const users = new UserDirectory();
    const bootstrap = bootstrapBindings(options.discovery ?? 'anonymous');
    const authorizer = new RuleAuthorizer(bootstrap);
    const faults = new FaultTable();
    const counters = Object.fromEntries(ENDPOINTS.map((e) => [e, 0])) as Record<Endpoint, number>;
    const recorded: RecordedRequest[] = [];
    const timers: Parts['timers'] = new Set();
    const traits = traitsOf(options.kubernetesVersion ?? NEWEST_VERSION);
    const ttl =
      options.tokenReviewCache === undefined || options.tokenReviewCache === true
        ? 10
        : options.tokenReviewCache || 0;
    const cache = ttl > 0 ? new ReviewCache(ttl, now) : undefined;

    // Issuer and audiences depend on the port, known only once listening; the handler reads them late.
    const live = { issuer: '', jwksUri: '', apiAudiences: [] as string[] };
    const authenticator = new TokenAuthenticator({
      keys,
      registry,
      users,
      issuers: () => [live.issuer, ...(options.acceptedIssuers ?? [])],
      apiAudiences: () => live.apiAudiences,
      now,
      leewaySeconds: options.leewaySeconds ?? 60,
      traits,
    });
    const minter = new Minter({
      keys,
      registry,
      issuer: () => live.issuer,
      apiAudiences: () => live.apiAudiences,
      now,
      traits,
    });
    const state = {
      minter,
      registry,
      get issuer() {
        return live.issuer;
      },
      get jwksUri() {
        return live.jwksUri;
      },
      get apiAudiences() {
        return live.apiAudiences;
      },
      traits,
      bootstrap,
      discovery: options.discovery ?? 'anonymous',
      discoveryMaxAge: options.discoveryMaxAge ?? 3600,
      anonymousAuth: options.anonymousAuth ?? true,
      now,
      keys,
      users,
      authenticator,
      authorizer,
      faults,
      cache,
      counters,
      record: (r: RecordedRequest) => {
        recorded.push(r);
        if (recorded.length > MAX_RECORDED) recorded.shift();
      },
      sleep: (ms: number) =>
        new Promise<void>((resolve) => {
          const entry = {
            resolve,
            timer: setTimeout(() => {
              timers.delete(entry);
              resolve();
            }, ms),
          };
          timers.add(entry);
        }),
    };
    server = createServer(
      {
        key: serverCert.key,
        cert: serverCert.cert,
        // Client certificates are optional; when present they must chain to the client CA to count.
        requestCert: true,
        rejectUnauthorized: false,
        ca: [clientCa.pem],
      },
      createRequestHandler(state),
    );
    server.keepAliveTimeout = 5_000;
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(options.port ?? 0, '127.0.0.1', () => {
        listening.off('error', reject);
        resolve();
      });
    });
    const port = (listening.address() as AddressInfo).port;
    const url = `https://127.0.0.1:${port}`;
    live.issuer = options.issuer ?? url;
    live.jwksUri = options.jwksUri ?? `${live.issuer.replace(/\/$/, '')}/openid/v1/jwks`;
    live.apiAudiences = options.apiAudiences ? [...options.apiAudiences] : [live.issuer];

    const reviewerOptions = options.reviewer ?? {};
    const reviewerUser = {
      // Like a service account bound to system:auth-delegator (so it may read discovery too).
      name: reviewerOptions.name ?? DEFAULT_REVIEWER,
      ...(reviewerOptions.uid ? { uid: reviewerOptions.uid } : {}),
      groups: [
        ...(reviewerOptions.groups ?? ['system:serviceaccounts', 'system:serviceaccounts:kube-system']),
      ],
      token: reviewerOptions.token ?? newStaticToken(),
    };
    users.add(reviewerUser, true);
    const parts: Parts = {
      options,
      server: listening,
      url,
      port,
      issuer: live.issuer,
      jwksUri: live.jwksUri,
      apiAudiences: live.apiAudiences,
      ca,
      clientCa,
      dir,
      keys,
      registry,
      minter,
      users,
      authenticator,
      authorizer,
      faults,
      cache,
      counters,
      recorded,
      timers,
      now,
      traits,
    };
    const kubeconfigPath = await writeKubeconfigFile(dir, url, ca.pem, {
      name: reviewerUser.name,
      token: reviewerUser.token,
    });
    const api = new TestApiserver(parts, { ...reviewerUser, canReview: true, kubeconfigPath });
    return api;
  } catch (error) {
    if (server?.listening) server.close();
    await rm(dir, { recursive: true, force: true });
    forgetOnExit(dir);
    throw error;
  }
}
