import type { KubernetesStatus } from './types.js';

/**
 * A request the kit refuses the way kube-apiserver would, outside HTTP: `mintWebhookToken` throws
 * it where the TokenRequest API would answer an error. `status` is the `Status` object the
 * apiserver would have sent; `code` and `reason` repeat its HTTP status and machine-readable reason.
 */
export class KubernetesStatusError extends Error {
  override readonly name = 'KubernetesStatusError';
  /** The HTTP status kube-apiserver would answer: 403, 404, 422, … */
  readonly code: number;
  /** `Forbidden`, `NotFound`, `Invalid`, … */
  readonly reason: string;
  /** The whole `Status` body. */
  readonly status: KubernetesStatus;

  constructor(status: KubernetesStatus) {
    super(status.message);
    this.code = status.code;
    this.reason = status.reason;
    this.status = status;
  }
}
