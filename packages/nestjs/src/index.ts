export type { ApiserverIdentity, ApiserverTokenVerifier } from '@apiserver-token/core';
export * from './nestjs-apiserver-token.js';
