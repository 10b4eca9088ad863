import { createHash } from 'node:crypto';

/** Short, non-reversible fingerprint of a token, safe to log: 16 base64url characters (96 bits) of its SHA-256. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 16);
}
