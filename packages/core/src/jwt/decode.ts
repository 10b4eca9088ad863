import { AlgorithmNotAllowedError, MalformedTokenError } from '../errors.js';

/** A compact JWS split and decoded, not verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  alg: string;
  kid: string | undefined;
  /** `<header>.<payload>`, the bytes the signature covers. */
  signingInput: string;
  /** The signature, decoded (strictly) once: the pre-check needs its shape, the verifier its bytes. */
  signature: Buffer;
}

// Header parameters that make the token name its own key: always refused, whatever the key set.
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

/**
 * Strict base64url decoding without a regular expression over the part (the payload is most of
 * the token). Node's decoder reads a character past ASCII by its low byte (`Ł`, U+0141, as `A`;
 * U+012B as `+`), so those are refused first: a UTF-8 length other than the character count
 * means one is there. It skips the other characters outside the alphabet, so one of them
 * anywhere leaves fewer bytes than the length promises (`length % 4 === 1`, which no byte string
 * produces, aside); `=` ends decoding early the same way. It also accepts `+` and `/` (base64),
 * which are refused here, and so is a last character with unused bits set ({@link canonicalEnd}).
 */
function decodeBase64url(part: string): Buffer | undefined {
  const length = part.length;
  if (length === 0 || length % 4 === 1 || Buffer.byteLength(part, 'utf8') !== length) return undefined;
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.length !== (length * 3) >>> 2 || part.includes('+') || part.includes('/')) return undefined;
  if (!canonicalEnd(part, length)) return undefined;
  return bytes;
}

/**
 * The bits of the last character that encode no byte (4 of them after 2 leftover characters, 2
 * after 3) must be zero, as RFC 4648 §3.5 has an encoder write them. The decoder drops them, so
 * without this check one signature could be spelled 4 or 16 ways, each verifying, each a new
 * cache entry and fingerprint (stricter than kube-apiserver, whose decoder drops them).
 */
function canonicalEnd(part: string, length: number): boolean {
  const unused = length % 4 === 2 ? 0x0f : length % 4 === 3 ? 0x03 : 0;
  if (unused === 0) return true;
  return (base64urlValue(part.charCodeAt(length - 1)) & unused) === 0;
}

/** The 6-bit value of a base64url character (the part is already known to decode). */
function base64urlValue(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 45 ? 62 : 63; // '-' or '_'
}

function decodeJsonObject(part: string, what: 'header' | 'payload'): Record<string, unknown> {
  const bytes = decodeBase64url(part);
  if (bytes === undefined) throw new MalformedTokenError(`the ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new MalformedTokenError(`the ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedTokenError(`the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Quote an attacker-supplied value for a log message, bounded. */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value;
  }
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

interface DecodedHeader {
  header: Record<string, unknown>;
  alg: string;
  kid: string | undefined;
}

/**
 * Headers already decoded, by their base64url text. An issuer signs every token with one of a
 * few keys, so one header segment recurs on every token it mints: decoding it once saves a base64
 * decode and a JSON parse per cache miss. Only headers that passed every algorithm-independent
 * check are kept (frozen, as they are shared); bounded, and emptied when full so that a flood of
 * distinct headers cannot keep the genuine ones out for long.
 */
const decodedHeaders = new Map<string, DecodedHeader>();
const MAX_DECODED_HEADERS = 64;
// kube-apiserver's headers are about 90 characters (`alg` and a 43-character `kid`): a longer one
// is decoded every time rather than kept, so the memory stays a few kilobytes whatever comes in.
const MAX_DECODED_HEADER_LENGTH = 512;

function decodeHeader(part: string, algorithms: ReadonlySet<string>): DecodedHeader {
  const known = decodedHeaders.get(part);
  if (known !== undefined) {
    if (!algorithms.has(known.alg)) {
      throw new AlgorithmNotAllowedError(`algorithm ${describeValue(known.alg)} is not allowed`);
    }
    return known;
  }
  const header = decodeJsonObject(part, 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !algorithms.has(alg)) {
    throw new AlgorithmNotAllowedError(`algorithm ${describeValue(alg)} is not allowed`);
  }
  for (const name of KEY_BEARING_HEADERS) {
    if (name in header)
      throw new AlgorithmNotAllowedError(`the header carries \`${name}\`, which is refused`);
  }
  // We implement no critical extension (RFC 7515 §4.1.11), so any `crit` must be refused.
  if ('crit' in header)
    throw new AlgorithmNotAllowedError('the header has a `crit` extension we do not understand');
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') throw new MalformedTokenError('`kid` is not a string');
  const decoded: DecodedHeader = { header: Object.freeze(header), alg, kid };
  if (part.length <= MAX_DECODED_HEADER_LENGTH) {
    if (decodedHeaders.size >= MAX_DECODED_HEADERS) decodedHeaders.clear();
    // A copy as the key: `part` is a slice of the token and would keep the whole token in memory.
    // Exact, as `part` decoded strictly above and so is ASCII.
    decodedHeaders.set(Buffer.from(part, 'latin1').toString('latin1'), decoded);
  }
  return decoded;
}

/**
 * Split and decode a compact JWS, rejecting what no verification could ever accept: a shape
 * other than three base64url parts, non-object JSON, an algorithm outside `algorithms`, a
 * header that brings its own key (`jku`, `x5u`, `jwk`, `x5c`) or any `crit` extension.
 */
export function decodeJwt(token: string, algorithms: ReadonlySet<string>): DecodedJwt {
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (second === -1 || token.indexOf('.', second + 1) !== -1) {
    throw new MalformedTokenError('the token is not three dot-separated parts');
  }
  const { header, alg, kid } = decodeHeader(token.slice(0, first), algorithms);
  const claims = decodeJsonObject(token.slice(first + 1, second), 'payload');
  const signature = decodeBase64url(token.slice(second + 1));
  if (signature === undefined) throw new MalformedTokenError('the signature is not base64url');
  return { header, claims, alg, kid, signingInput: token.slice(0, second), signature };
}
