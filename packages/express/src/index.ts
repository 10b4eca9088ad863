export type { ApiserverIdentity, ApiserverTokenVerifier } from '@apiserver-token/core';
export type {
  ApiserverTokenMiddleware,
  ExpressVerifyApiserverTokenOptions,
} from './verify-apiserver-token.js';
export { verifyApiserverToken } from './verify-apiserver-token.js';
