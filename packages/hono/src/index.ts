export type { ApiserverIdentity, ApiserverTokenVerifier } from '@apiserver-token/core';
export type {
  ApiserverEnv,
  ApiserverTokenMiddleware,
  ApiserverVariables,
  HonoVerifyApiserverTokenOptions,
} from './hono-apiserver-token.js';
export { verifyApiserverToken } from './hono-apiserver-token.js';
