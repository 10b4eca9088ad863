import { newUid } from './lib/ids.js';
import type { ObjectKind } from './types.js';

/** An object of the kit's pretend cluster: just enough state to revoke bound tokens. */
export interface StoredObject {
  kind: ObjectKind;
  /** Empty for cluster-scoped kinds. */
  namespace: string;
  name: string;
  uid: string;
  /** Set while a graceful deletion is pending (ms since the epoch); the object still exists. */
  deletionTimestamp?: number;
  /** A legacy service-account token Secret's `data.token`. */
  token?: string;
  /**
   * A bootstrap token Secret (`bootstrap.kubernetes.io/token`, `kube-system/bootstrap-token-<id>`):
   * its `token-secret`, `auth-extra-groups` and `expiration` (ms since the epoch).
   */
  bootstrap?: { secret: string; extraGroups: string[]; expiresAt?: number };
  /** A Pod's `spec.serviceAccountName`. */
  serviceAccountName?: string;
  /** A Pod's `spec.nodeName`. */
  nodeName?: string;
  /**
   * A webhook configuration's webhooks, as far as KEP-6060 issuance reads them: the audience of
   * each one's `clientConfig` and the `apiGroups` of its rules. Unset: not described by the test.
   */
  webhooks?: WebhookEntry[];
}

/** One webhook of a configuration: its audience (URL verbatim, or the service's) and its rules' API groups. */
export interface WebhookEntry {
  audience: string;
  apiGroups: string[];
}

/** Fields of a Pod (and of a webhook configuration) the kit keeps. */
export interface PodSpecFields {
  serviceAccountName?: string;
  nodeName?: string;
  /** Webhook configurations only: their webhooks. */
  webhooks?: WebhookEntry[];
}

const WEBHOOK_KINDS: ReadonlySet<ObjectKind> = new Set([
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

const NAMESPACED: ReadonlySet<ObjectKind> = new Set(['ServiceAccount', 'Pod', 'Secret']);

export function isNamespaced(kind: ObjectKind): boolean {
  return NAMESPACED.has(kind);
}

/** Objects by kind, namespace and name. */
export class ObjectRegistry {
  readonly #objects = new Map<string, StoredObject>();
  /** Keys of objects deleted and not re-created: issuance refuses them where it would create a missing one. */
  readonly #deleted = new Set<string>();

  static key(kind: ObjectKind, namespace: string, name: string): string {
    return `${kind}\u0000${isNamespaced(kind) ? namespace : ''}\u0000${name}`;
  }

  get(kind: ObjectKind, namespace: string, name: string): StoredObject | undefined {
    return this.#objects.get(ObjectRegistry.key(kind, namespace, name));
  }

  /** The object, created with a random UID if it does not exist. */
  ensure(kind: ObjectKind, namespace: string, name: string, pod: PodSpecFields = {}): StoredObject {
    return this.get(kind, namespace, name) ?? this.create(kind, namespace, name, undefined, pod);
  }

  /** Creates (or re-creates, with a new UID unless one is given) an object. */
  create(
    kind: ObjectKind,
    namespace: string,
    name: string,
    uid: string = newUid(),
    pod: PodSpecFields = {},
  ): StoredObject {
    const object: StoredObject = {
      kind,
      namespace: isNamespaced(kind) ? namespace : '',
      name,
      uid,
      ...(kind === 'Pod' && pod.serviceAccountName ? { serviceAccountName: pod.serviceAccountName } : {}),
      ...(kind === 'Pod' && pod.nodeName ? { nodeName: pod.nodeName } : {}),
      ...(WEBHOOK_KINDS.has(kind) && pod.webhooks
        ? { webhooks: pod.webhooks.map((w) => ({ audience: w.audience, apiGroups: [...w.apiGroups] })) }
        : {}),
    };
    const key = ObjectRegistry.key(kind, namespace, name);
    this.#objects.set(key, object);
    this.#deleted.delete(key);
    return object;
  }

  /**
   * Deletes an object. With `pending`, only marks it (a graceful deletion in progress): Kubernetes
   * keeps accepting its tokens until one leeway (60 s) after the deletion timestamp.
   */
  delete(kind: ObjectKind, namespace: string, name: string, pendingSince?: number): boolean {
    const key = ObjectRegistry.key(kind, namespace, name);
    const object = this.#objects.get(key);
    if (!object) return false;
    if (pendingSince === undefined) {
      this.#objects.delete(key);
      this.#deleted.add(key);
    } else object.deletionTimestamp = pendingSince;
    return true;
  }

  /** Whether the object was deleted (and not re-created since). */
  wasDeleted(kind: ObjectKind, namespace: string, name: string): boolean {
    return this.#deleted.has(ObjectRegistry.key(kind, namespace, name));
  }

  list(): StoredObject[] {
    return [...this.#objects.values()].map((o) => ({ ...o }));
  }
}
