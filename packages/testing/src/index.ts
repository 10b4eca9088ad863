/**
 * `@apiserver-token/testing`: a local kube-apiserver stand-in over real HTTPS (OIDC discovery,
 * JWKS, TokenReview, SubjectAccessReview) to test Kubernetes webhooks with.
 *
 * @packageDocumentation
 */

export type { TokenAuthResult } from './auth/token-authenticator.js';
export type { UserInfo } from './auth/users.js';
export { tamper as tamperToken } from './jwt/minter.js';
export { keyIdOf } from './keys/signing-key.js';
export { KubernetesStatusError } from './status-error.js';
export { type KubeconfigUser, startTestApiserver, TestApiserver } from './test-apiserver.js';
export type { TestCertificates, TestCertificatesOptions } from './tls/test-certificates.js';
export { createTestCertificates } from './tls/test-certificates.js';
export type {
  AccessAttributes,
  AccessDecision,
  AccessRule,
  AddUserOptions,
  Authorizer,
  BootstrapTokenOptions,
  BoundObjectKind,
  BoundObjectRef,
  ClientCertificateOptions,
  DiscoveryAccess,
  Endpoint,
  Fault,
  FaultTarget,
  IssuedCertificate,
  KubernetesStatus,
  MintLegacyTokenOptions,
  MintTokenOptions,
  MintWebhookTokenOptions,
  ObjectKind,
  PublicJwk,
  PublishedKey,
  RecordedRequest,
  RotateKeysOptions,
  ServerCertificateOptions,
  SigningAlgorithm,
  TestApiserverOptions,
  TestUser,
  WebhookServiceRef,
} from './types.js';
export { webhookAudience } from './webhook-audience.js';
export {
  type AdmissionReviewOptions,
  admissionReview,
  type CallWebhookOptions,
  type GroupVersionKind,
  type GroupVersionResource,
  type WebhookResponse,
} from './webhook-call.js';
