export type { ApiserverIdentity, ApiserverTokenVerifier } from '@apiserver-token/core';
export type {
  ApiserverState,
  ApiserverTokenMiddleware,
  KoaVerifyApiserverTokenOptions,
} from './verify-apiserver-token.js';
export { verifyApiserverToken } from './verify-apiserver-token.js';
