export const GROUP: 'example.com';
export const VERSIONS: readonly ['v1alpha1', 'v1'];
/** Converts one Widget to `desiredAPIVersion`; throws with a message for the review's `result`. */
export function convertWidget(object: unknown, desiredAPIVersion: string): Record<string, unknown>;
/** Answers an `apiextensions.k8s.io/v1` ConversionReview. */
export function answerConversionReview(review: unknown): {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'ConversionReview';
  response: {
    uid: string;
    convertedObjects: Record<string, unknown>[];
    result: { status: 'Success' } | { status: 'Failure'; message: string };
  };
};
/** True for the ConversionReview shape kube-apiserver sends. */
export function isConversionReview(body: unknown): boolean;
