import type { IncomingHttpHeaders } from 'node:http';

/** What came back. `body` is the parsed JSON, or undefined. */
export interface ReviewResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: whatever JSON the webhook answered, read by tests.
  body: any;
}

export function sendAdmissionReview(options: {
  url: string;
  ca: string | Buffer;
  token?: string | undefined;
  review: unknown;
  timeoutMs?: number;
}): Promise<ReviewResponse>;

export function deploymentReview(options?: {
  uid?: string;
  namespace?: string;
  name?: string;
  labels?: Record<string, string>;
}): {
  kind: 'AdmissionReview';
  apiVersion: 'admission.k8s.io/v1';
  request: { uid: string; [field: string]: unknown };
};
