// Kept apart from token-request.ts so that loading them does not load @kubernetes/client-node
// (seconds of start-up on a busy node), which only `token-file` needs.

/** A KEP-6060 webhook binding: the token is bound to the webhook configuration and attests one API group. */
export interface WebhookBinding {
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
  name: string;
  /** The one API group the token may send AdmissionReviews about; `*` for all, `""` for the core group. */
  apiGroup: string;
}

/** One TokenRequest. */
export interface TokenRequestSpec {
  namespace: string;
  serviceAccount: string;
  audience: string;
  expirationSeconds: number;
  binding?: WebhookBinding;
}

/** What the apiserver answered. */
export interface IssuedToken {
  token: string;
  /** `status.expirationTimestamp`, when present. */
  expirationTimestamp?: Date;
}

/** Asks the apiserver for a token. */
export type TokenRequester = (spec: TokenRequestSpec) => Promise<IssuedToken>;

/** A failed TokenRequest; `permanent` when retrying the same request cannot succeed (400, 422). */
export class TokenRequestError extends Error {
  override readonly name = 'TokenRequestError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
