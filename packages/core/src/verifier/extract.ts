import type { HeadersLike, RequestLike } from '../contracts/verifier.js';
import { MalformedAuthorizationError, MissingTokenError, TokenTooLargeError } from '../errors.js';

function readAuthorization(headers: HeadersLike): string | string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get('authorization') ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | string[] | undefined>>;
  const value = record.authorization;
  if (value !== undefined) return value;
  // Plain objects built by hand may not be lower-cased like Node's.
  for (const name of Object.keys(record)) {
    if (name.length === 13 && name.toLowerCase() === 'authorization') return record[name];
  }
  return undefined;
}

/** Node keeps only the first of several Authorization headers in `headers`; `rawHeaders` shows them all. */
function countRawAuthorization(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name !== undefined && name.length === 13 && name.toLowerCase() === 'authorization') count++;
  }
  return count;
}

/** Refuse a bare token that is empty or larger than the bound. */
export function checkTokenSize(token: string, maxTokenBytes: number): void {
  if (token.length === 0) throw new MissingTokenError('the token is empty');
  // A UTF-8 character takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
  if (
    token.length > maxTokenBytes ||
    (token.length * 3 > maxTokenBytes && Buffer.byteLength(token, 'utf8') > maxTokenBytes)
  ) {
    throw new TokenTooLargeError(`the token is larger than ${maxTokenBytes} bytes`);
  }
}

/** Internal: {@link extractBearerToken} without the character scan, which the pipeline runs on cache misses only. */
export function readBearerToken(request: RequestLike, maxTokenBytes: number): string {
  const raw = readAuthorization(request.headers);
  let value: string | undefined;
  if (Array.isArray(raw)) {
    if (raw.length > 1) throw new MalformedAuthorizationError('several Authorization headers');
    value = raw[0];
  } else {
    value = raw;
  }
  if (value === undefined) throw new MissingTokenError('no Authorization header');
  if (request.rawHeaders !== undefined && countRawAuthorization(request.rawHeaders) > 1) {
    throw new MalformedAuthorizationError('several Authorization headers');
  }
  if (typeof value !== 'string')
    throw new MalformedAuthorizationError('the Authorization header is not a string');
  // Bound the work before trimming or splitting an attacker-sized header.
  if (value.length > maxTokenBytes + 64)
    throw new TokenTooLargeError(`the token is larger than ${maxTokenBytes} bytes`);
  const header = value.trim();
  if (header === '') throw new MissingTokenError('empty Authorization header');
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') {
    throw new MalformedAuthorizationError('the Authorization scheme is not Bearer');
  }
  if (space === -1) throw new MalformedAuthorizationError('the bearer token is empty');
  const token = header.slice(space + 1);
  if (token === '') throw new MalformedAuthorizationError('the bearer token is empty');
  checkTokenSize(token, maxTokenBytes);
  return token;
}

/**
 * Refuse a second space (double space, trailing words) or a comma (headers joined by a
 * `Headers` object) after the scheme. Kept apart from {@link readBearerToken} because scanning
 * the token costs about a microsecond and a cache hit cannot hold such a token anyway.
 */
export function checkBearerCharacters(token: string): void {
  if (/[\s,]/.test(token))
    throw new MalformedAuthorizationError('the bearer token contains spaces or commas');
}

/**
 * The bearer token of a request (RFC 6750 §2.1), read the way kube-apiserver's bearertoken
 * authenticator does: trimmed, scheme case-insensitive, one space between scheme and token; but
 * stricter where it is lenient: anything after the token, several Authorization headers or an
 * empty token are refused.
 */
export function extractBearerToken(request: RequestLike, maxTokenBytes = 16_384): string {
  const token = readBearerToken(request, maxTokenBytes);
  checkBearerCharacters(token);
  return token;
}
