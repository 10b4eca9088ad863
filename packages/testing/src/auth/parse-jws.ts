import { decodeBase64url } from '../lib/base64url.js';

/** A compact JWS split into its parts; nothing verified. */
export interface ParsedJws {
  header: Record<string, unknown>;
  /** The payload parsed as JSON, when it is a JSON object. */
  payload: Record<string, unknown> | undefined;
  signingInput: string;
  signature: Buffer;
}

function parseObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Splits a compact JWS, or returns undefined if it is not one (go-jose `ParseSigned` failing). */
export function parseJws(token: string): ParsedJws | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  const header = parseObject(h);
  const signature = decodeBase64url(s);
  if (!header || !signature || decodeBase64url(p) === undefined) return undefined;
  return { header, payload: parseObject(p), signingInput: `${h}.${p}`, signature };
}

/**
 * The unverified `iss`, as kube-apiserver's `hasCorrectIssuer` reads it: anything that is not a
 * three-part token with a JSON payload and a string `iss` has no issuer.
 */
export function unverifiedIssuer(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const payload = parseObject(parts[1] ?? '');
  return typeof payload?.iss === 'string' ? payload.iss : undefined;
}
