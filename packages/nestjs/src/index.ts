// What the README's documented use needs from core, so an app depends on this adapter alone
// (pnpm's strict layout does not let it import a dependency's dependency).

export type {
  AdmissionOptions,
  ApiserverIdentity,
  ApiserverTokenErrorCode,
  ApiserverTokenVerifier,
  Logger,
  PolicyOptions,
  RespondMode,
  VerifierOptions,
} from '@apiserver-token/core';
export {
  ApiserverTokenConfigError,
  ApiserverTokenError,
  createVerifier,
  ForbiddenIdentityError,
  isApiserverTokenError,
  webhookAudience,
} from '@apiserver-token/core';
export * from './nestjs-apiserver-token.js';
