import { randomBytes, randomUUID } from 'node:crypto';

/** A random Kubernetes-style object UID. */
export function newUid(): string {
  return randomUUID();
}

/** A random opaque bearer token (static-token style: 40 hex characters). */
export function newStaticToken(): string {
  return randomBytes(20).toString('hex');
}
