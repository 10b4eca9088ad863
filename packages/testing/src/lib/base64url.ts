/** base64url without padding, as JOSE uses it. */
export function base64url(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Strict base64url decoding: returns undefined for anything outside the alphabet (padding included). */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

/** Encodes a JSON value as a base64url JWS segment. */
export function encodeSegment(value: unknown): string {
  return base64url(JSON.stringify(value));
}
