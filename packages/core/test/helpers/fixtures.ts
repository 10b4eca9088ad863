import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../test/fixtures/kube-apiserver-v1.28.4/', import.meta.url));

/** A file of the recorded kube-apiserver v1.28.4 traffic. */
export function fixtureText(path: string): string {
  return readFileSync(root + path, 'utf8');
}

export function fixtureJson<T = unknown>(path: string): T {
  return JSON.parse(fixtureText(path)) as T;
}

export function fixturePath(path: string): string {
  return root + path;
}

export interface FixtureCase {
  id: string;
  token: string;
  audiences: string[];
  at: string;
  local: { verdict: 'accept' | 'reject'; reason: string };
  tokenReview: { authenticated: boolean; user: { username?: string; uid?: string; groups?: string[] } };
}

export const FIXTURE_ISSUER = 'https://127.0.0.1:6443';
