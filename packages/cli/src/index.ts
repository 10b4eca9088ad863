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
