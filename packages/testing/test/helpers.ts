import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';

/** The recorded real kube-apiserver traffic. */
export const FIXTURES = fileURLToPath(
  new URL('../../../test/fixtures/kube-apiserver-v1.28.4/', import.meta.url),
);

export function fixtureText(path: string): string {
  return readFileSync(FIXTURES + path, 'utf8');
}

export function fixtureJson<T = unknown>(path: string): T {
  return JSON.parse(fixtureText(path)) as T;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: () => unknown;
}

/** One HTTPS request to the kit, trusting its CA; rejects on socket errors. */
export function call(
  api: { url: string; ca: string },
  path: string,
  options: {
    method?: string;
    token?: string;
    body?: unknown;
    cert?: { cert: string; key: string };
    headers?: Record<string, string>;
  } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload =
      options.body === undefined
        ? undefined
        : Buffer.from(typeof options.body === 'string' ? options.body : JSON.stringify(options.body));
    const req = request(
      new URL(path, api.url),
      {
        method: options.method ?? (payload ? 'POST' : 'GET'),
        ca: api.ca,
        agent: false,
        ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
        headers: {
          ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('aborted', () => reject(new Error('response aborted')));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Decodes a JWT's header and claims without verifying. */
export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
} {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')),
  };
}

/** Recursively lists the key paths of a JSON value, with the JSON type at each leaf. */
export function shapeOf(value: unknown, prefix = ''): string[] {
  if (value === null) return [`${prefix}:null`];
  if (Array.isArray(value))
    return [`${prefix}:array`, ...(value.length > 0 ? shapeOf(value[0], `${prefix}[]`) : [])];
  if (typeof value === 'object') {
    return Object.keys(value as object).flatMap((k) =>
      shapeOf((value as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k),
    );
  }
  return [`${prefix}:${typeof value}`];
}
