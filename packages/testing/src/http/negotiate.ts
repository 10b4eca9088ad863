/** One media range of an `Accept` header. */
interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [mime = '', ...params] = part.split(';').map((p) => p.trim());
    const [type, subtype] = mime.toLowerCase().split('/');
    if (!type || !subtype) continue;
    let q = 1;
    for (const param of params) {
      const [k, v] = param.split('=').map((p) => p.trim());
      if (k === 'q' && v !== undefined) q = Number(v);
    }
    if (Number.isFinite(q) && q > 0) ranges.push({ type, subtype, q });
  }
  // Highest q first; the header's order among equals (a stable sort keeps it).
  return ranges.sort((a, b) => b.q - a.q);
}

/**
 * The offer to answer with, or undefined for 406. As kube-apiserver negotiates: no (or an
 * empty) `Accept` takes the first offer, `*\/*` matches anything, `type/subtype` only itself;
 * `application/*` matches nothing (the recordings show a 406 for it on discovery and JWKS).
 */
export function negotiate(accept: string | undefined, offers: readonly string[]): string | undefined {
  if (accept === undefined || accept.trim() === '') return offers[0];
  for (const range of parseAccept(accept)) {
    if (range.type === '*' && range.subtype === '*') return offers[0];
    const found = offers.find((o) => o === `${range.type}/${range.subtype}`);
    if (found) return found;
  }
  return undefined;
}

/** The media types kube-apiserver serializes API objects (and Status errors) in. */
export const API_MEDIA_TYPES = [
  'application/json',
  'application/yaml',
  'application/vnd.kubernetes.protobuf',
];
