export type { ApiserverIdentity, ApiserverTokenVerifier } from '@apiserver-token/core';
export type { FastifyApiserverTokenOptions } from './fastify-apiserver-token.js';
export { fastifyApiserverToken, fastifyApiserverToken as default } from './fastify-apiserver-token.js';
