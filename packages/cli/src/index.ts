export {
  describeToken,
  type ObjectRef,
  type TokenDescription,
  type TokenTime,
  type TokenWarning,
} from './lib/describe-token.js';
export { ExitCode } from './lib/exit-codes.js';
export { type DecodedToken, decodeToken, UndecodableTokenError } from './lib/jwt.js';
export { kubeconfigUser, type WebhookAudienceRow, webhookAudiences } from './lib/webhook-configurations.js';
export { type RunContext, run } from './program.js';
export { type AtomicWriteResult, writeFileAtomic } from './token-file/atomic-write.js';
export {
  type LogEntry,
  type RefresherOptions,
  type RefresherOutcome,
  type TargetStatus,
  TokenFileRefresher,
  type TokenFileTarget,
} from './token-file/refresher.js';
export { createTokenRequester, type TokenRequesterOptions } from './token-file/token-request.js';
export {
  type IssuedToken,
  TokenRequestError,
  type TokenRequester,
  type TokenRequestSpec,
  type WebhookBinding,
} from './token-file/token-request-types.js';
export { type UsableToken, usableToken } from './token-file/validate-token.js';
