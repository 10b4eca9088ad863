import type { ApiserverTokenVerifier, RequestLike } from '../contracts/verifier.js';
import type { ApiserverIdentity } from '../identity.js';

/**
 * Internal: `verify()` that answers a cache hit, or a miss verified with keys already held (with
 * only synchronous authorizers), with the identity itself rather than a promise; every failure is still a rejected promise. A registered
 * symbol, so that the ESM and CommonJS builds of core recognise each other's verifiers.
 */
export const VERIFY_NOW: unique symbol = Symbol.for('@apiserver-token/core.verifyNow') as never;

export type VerifyNow = (request: RequestLike) => ApiserverIdentity | Promise<ApiserverIdentity>;

/** Attaches `verifyNow` to a verifier, non-enumerable and read-only. */
export function withVerifyNow<T extends ApiserverTokenVerifier>(verifier: T, verifyNow: VerifyNow): T {
  return Object.defineProperty(verifier, VERIFY_NOW, { value: verifyNow });
}

/** The verifier's `verifyNow`, or its `verify()` when it has none. */
export function verifyNowOf(verifier: ApiserverTokenVerifier): VerifyNow {
  const own = (verifier as { [VERIFY_NOW]?: unknown })[VERIFY_NOW];
  return typeof own === 'function' ? (own as VerifyNow) : (request) => verifier.verify(request);
}
