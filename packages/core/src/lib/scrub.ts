/**
 * Upstream texts (a TokenReview's `status.error`, a Kubernetes `Status` message, a client's
 * exception) are written by someone else and may quote the very token under review — an
 * authenticator webhook that echoes its input, a proxy that logs the request body into its error.
 * Every such text goes through {@link scrubUpstreamText} before it reaches a log line, a
 * diagnostic or an error's message, and before any length cut (a cut could leave a token's head
 * that no longer looks like what it is).
 */

/** What stands where a token was. */
export const REDACTED = '[redacted]';

/**
 * JWT-shaped text: a run starting with `eyJ` (the base64url of `{"`, how every JWT header and
 * most JSON-in-base64url begin), with or without dots, or three dot-separated base64url segments
 * of some length (a JWT whose header was serialized otherwise). Bounded by non-base64url
 * characters so that only whole runs are taken.
 */
const JWT_SHAPED =
  /(?<![A-Za-z0-9_-])(?:eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})(?![A-Za-z0-9_-])/g;

/** Runs long enough to be a recognisable piece of a secret (a signature alone, a truncated token). */
const LONG_RUN = /[A-Za-z0-9_-]{16,}/g;

/**
 * `text` with every occurrence of `secrets` (the token under review), every long piece of them
 * and anything JWT-shaped replaced by {@link REDACTED}. Not a length cut: callers cut after.
 */
export function scrubUpstreamText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let scrubbed = text;
  const known = secrets.filter(
    (secret): secret is string => typeof secret === 'string' && secret.length >= 8,
  );
  for (const secret of known) scrubbed = scrubbed.split(secret).join(REDACTED);
  if (known.length > 0) {
    scrubbed = scrubbed.replace(LONG_RUN, (run) =>
      known.some((secret) => secret.includes(run)) ? REDACTED : run,
    );
  }
  return scrubbed.replace(JWT_SHAPED, REDACTED);
}

/** The message of a thrown value, scrubbed; `String(value)` when it is no `Error`. */
export function scrubbedMessage(error: unknown, secrets: readonly (string | undefined)[] = []): string {
  const message = (error as Error | null)?.message;
  return scrubUpstreamText(typeof message === 'string' ? message : String(error), secrets);
}
