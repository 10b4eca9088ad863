/** A compact JWS decoded WITHOUT verification: header and claims only, never the signature. */
export interface DecodedToken {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** Why a string is not a decodable JWT. */
export class UndecodableTokenError extends Error {
  override readonly name = 'UndecodableTokenError';
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function part(segment: string, what: string): Record<string, unknown> {
  if (segment === '' || !BASE64URL.test(segment)) {
    throw new UndecodableTokenError(`the ${what} is not base64url`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new UndecodableTokenError(`the ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UndecodableTokenError(`the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Decodes a compact JWS (`header.payload.signature`). The signature is checked for shape only and
 * dropped: nothing here proves the token authentic.
 */
export function decodeToken(token: string): DecodedToken {
  const parts = token.trim().split('.');
  if (parts.length !== 3) {
    throw new UndecodableTokenError(
      `a JWT has three dot-separated parts, this has ${parts.length} (an opaque or truncated token?)`,
    );
  }
  const [header, payload, signature] = parts as [string, string, string];
  if (!BASE64URL.test(signature)) throw new UndecodableTokenError('the signature is not base64url');
  return { header: part(header, 'header'), claims: part(payload, 'payload') };
}

/** A numeric date claim (seconds since the epoch), or undefined when absent or not a number. */
export function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** `aud` as a list: absent → [], a string → [it]. */
export function audiences(claims: Record<string, unknown>): string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud)) return aud.filter((item): item is string => typeof item === 'string');
  return [];
}
