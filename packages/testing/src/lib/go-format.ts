// Kubernetes error strings are produced by Go; these helpers reproduce the two formats the
// TokenReview errors use, so that the kit's wording matches a real kube-apiserver.

/** Go's `%q` for one string (close enough for printable text: Go keeps printable Unicode as is). */
export function goQuote(value: string): string {
  return JSON.stringify(value);
}

/** Go's `%q` for a `[]string`: `["a" "b"]`. */
export function goQuoteList(values: readonly string[]): string {
  return `[${values.map(goQuote).join(' ')}]`;
}

/**
 * `k8s.io/apimachinery/pkg/util/errors.NewAggregate(...).Error()`: duplicates dropped, one message
 * printed bare, several joined as `[a, b]`.
 */
export function aggregateMessage(messages: readonly string[]): string {
  const unique = [...new Set(messages)];
  if (unique.length === 1) return unique[0] ?? '';
  return `[${unique.join(', ')}]`;
}
