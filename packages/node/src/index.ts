export type { ApiserverIdentity, ApiserverTokenVerifier } from '@apiserver-token/core';
export type {
  ApiserverTokenGuard,
  ApiserverTokenMiddleware,
  ConnectApiserverTokenOptions,
  NodeApiserverTokenOptions,
} from './node-apiserver-token.js';
export { createApiserverTokenGuard, verifyApiserverToken } from './node-apiserver-token.js';
