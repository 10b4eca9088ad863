/**
 * One allow-list entry: an exact value, or a pattern where `*` stands for any run of characters
 * other than `:`, so a glob never crosses a segment of `system:serviceaccount:<ns>:<name>`.
 * A pattern that is `*` alone matches every value.
 */
export type Matcher = (value: string) => boolean;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Compiles allow-list patterns into one matcher (exact values through a set, globs through one regex). */
export function compileAllowList(patterns: readonly string[]): Matcher {
  if (patterns.includes('*')) return () => true;
  const exact = new Set<string>();
  const globs: string[] = [];
  for (const pattern of patterns) {
    if (pattern.includes('*')) globs.push(pattern.split('*').map(escapeRegex).join('[^:]*'));
    else exact.add(pattern);
  }
  const regex = globs.length === 0 ? undefined : new RegExp(`^(?:${globs.join('|')})$`);
  return (value) => exact.has(value) || regex?.test(value) === true;
}
