import { hash } from 'node:crypto';

/**
 * Short, non-reversible fingerprint of a token, safe to log: 16 base64url characters (96 bits) of
 * its SHA-256. One-shot `crypto.hash`: no Hash object per call (it runs once per cache miss).
 */
export function tokenFingerprint(token: string): string {
  return hash('sha256', token, 'base64url').slice(0, 16);
}
