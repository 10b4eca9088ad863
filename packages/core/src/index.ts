export type { AdmissionOptions, WebhookConfigurationKind } from './admission/options.js';
export { type WebhookClientConfig, webhookAudience } from './admission/webhook-audience.js';
export type { ClientCertificateOptions } from './client-certificate/options.js';
export type {
  ApiserverTokenVerifier,
  HeadersLike,
  RequestLike,
  TokenStrategy,
} from './contracts/verifier.js';
export type {
  ApiserverTokenErrorCode,
  ApiserverTokenErrorOptions,
} from './errors.js';
export {
  AdmissionReviewTooLargeError,
  AlgorithmNotAllowedError,
  ApiserverTokenConfigError,
  ApiserverTokenError,
  ApiserverUnavailableError,
  AttestationMismatchError,
  AudienceMismatchError,
  ForbiddenIdentityError,
  InvalidClientCertificateError,
  InvalidSignatureError,
  IssuedInFutureError,
  IssuerUnavailableError,
  isApiserverTokenError,
  LegacyTokenError,
  MalformedAdmissionReviewError,
  MalformedAuthorizationError,
  MalformedTokenError,
  MissingTokenError,
  TokenExpiredError,
  TokenNotYetValidError,
  TokenRejectedError,
  TokenRevokedError,
  TokenTooLargeError,
  UnknownIssuerError,
  UnknownKeyError,
  VerificationThrottledError,
} from './errors.js';
export { assertAdapterOptions, assertOneOf } from './http/adapter-checks.js';
export type {
  AdapterControls,
  AdapterSettings,
  RespondMode,
  VerifyApiserverTokenOptions,
} from './http/adapter-options.js';
export { handOnParsedBody } from './http/hand-on-body.js';
export type {
  AuthenticationOutcome,
  HttpAuthenticator,
  HttpAuthenticatorHooks,
} from './http/http-authenticator.js';
export { createHttpAuthenticator, resolveVerifier } from './http/http-authenticator.js';
export type {
  AdmissionDenialBody,
  AdmissionDenialResponse,
  AdmissionReviewVersion,
} from './http/render-admission-denial.js';
export { renderAdmissionDenial } from './http/render-admission-denial.js';
export type { ErrorResponse, ErrorResponseBody, UnexpectedErrorCode } from './http/render-error.js';
export { renderError } from './http/render-error.js';
export type { RequestLogger } from './http/request-log.js';
export { pinoHttpLoggerOf, requestLoggerOf, warningLoggerOf } from './http/request-log.js';
export type {
  ApiserverIdentity,
  Attestations,
  BoundObject,
  BoundObjectKind,
  ClientCertificateInfo,
  ServiceAccountRef,
  VerifiedBy,
} from './identity.js';
export { tokenFingerprint } from './jwt/fingerprint.js';
export type { Logger } from './logger.js';
export { METRIC_NAMES, type RequestOutcome } from './metrics/definitions.js';
export type {
  InstrumentOptionsLike,
  MeterLike,
  MetricAttributes,
  MetricsOptions,
  ObservableInstrumentLike,
  ObservableResultLike,
  PrometheusRegistryLike,
} from './metrics/options.js';
export type {
  CacheOptions,
  InClusterOptions,
  IssuerOptions,
  JsonWebKey,
  JsonWebKeySet,
  JwksOptions,
  JwsAlgorithm,
  VerifierMode,
  VerifierOptions,
} from './options.js';
export type {
  PolicyOptions,
  SubjectAccessReviewAttributes,
  SubjectAccessReviewNonResourceAttributes,
  SubjectAccessReviewOptions,
  SubjectAccessReviewResourceAttributes,
} from './policy/options.js';
export type { KubeConfigLike } from './tokenreview/client-node.js';
export type { TokenReviewBackoffOptions, TokenReviewOptions } from './tokenreview/options.js';
export { createVerifier } from './verifier/create-verifier.js';
export { extractBearerToken } from './verifier/extract.js';
export type { Authorizer } from './verifier/pipeline.js';
