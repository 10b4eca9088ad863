import { readFile } from 'node:fs/promises';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** How one issuer's documents are fetched. */
export interface FetchSettings {
  /** Whole fetch, connection to last byte, in milliseconds. */
  timeout: number;
  maxBytes: number;
  ca: Array<string | Buffer> | undefined;
  /** Re-read on every fetch. */
  caFile: string | undefined;
  /** Re-read on every fetch; sent only when the caller says the origin may receive it. */
  credentialFile: string | undefined;
  allowInsecureHttp: boolean;
}

/** A JSON document and the freshness its server declared. */
export interface FetchedJson {
  body: unknown;
  /** `Cache-Control: max-age`, in seconds, when present. */
  maxAge: number | undefined;
}

/** A fetch failure; its message is safe to log (no credential, no body). */
export class FetchError extends Error {
  override readonly name = 'FetchError';
  /** HTTP status, when a response arrived. */
  readonly status: number | undefined;
  /** `Retry-After` of a 429/503 answer, in seconds. */
  readonly retryAfter: number | undefined;
  /** Node's error code of a connection or TLS failure (`ECONNREFUSED`, `SELF_SIGNED_CERT_IN_CHAIN`, ...). */
  readonly errorCode: string | undefined;
  constructor(message: string, status?: number, retryAfter?: number, errorCode?: string) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
    this.errorCode = errorCode;
  }
}

const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;
const MAX_AGE = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?:,|$)/i;
const NO_CACHE = /(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i;

/** `max-age` of a Cache-Control value, `0` for no-store/no-cache, undefined when absent. */
export function parseMaxAge(cacheControl: string | undefined): number | undefined {
  if (cacheControl === undefined) return undefined;
  if (NO_CACHE.test(cacheControl)) return 0;
  const match = MAX_AGE.exec(cacheControl);
  return match === null ? undefined : Number(match[1]);
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,6}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** Fetches small JSON documents over HTTPS with every limit applied; tracks its sockets for `close()`. */
export class JsonFetcher {
  readonly #inflight = new Set<ClientRequest>();
  #closed = false;

  async fetch(url: URL, settings: FetchSettings, sendCredential: boolean): Promise<FetchedJson> {
    if (this.#closed) throw new FetchError('the verifier is closed');
    const headers: Record<string, string> = { accept: 'application/json, application/jwk-set+json' };
    if (sendCredential && settings.credentialFile !== undefined) {
      let credential: string;
      try {
        credential = (await readFile(settings.credentialFile, 'utf8')).trim();
      } catch (error) {
        throw new FetchError(
          `cannot read the credential file: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
        );
      }
      if (credential === '') throw new FetchError('the credential file is empty');
      if (/[\r\n]/.test(credential)) throw new FetchError('the credential file holds more than one line');
      headers.authorization = `Bearer ${credential}`;
    }
    let ca = settings.ca;
    if (settings.caFile !== undefined) {
      try {
        ca = [...(ca ?? []), await readFile(settings.caFile)];
      } catch (error) {
        throw new FetchError(`cannot read the CA file: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    if (this.#closed) throw new FetchError('the verifier is closed');
    return this.#request(url, settings, headers, ca);
  }

  #request(
    url: URL,
    settings: FetchSettings,
    headers: Record<string, string>,
    ca: Array<string | Buffer> | undefined,
  ): Promise<FetchedJson> {
    return new Promise<FetchedJson>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, value?: FetchedJson): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#inflight.delete(req);
        if (error === undefined) resolve(value as FetchedJson);
        else {
          req.destroy();
          reject(error);
        }
      };
      const onResponse = (res: IncomingMessage): void => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          finish(
            new FetchError(
              `${url.origin}${url.pathname} answered HTTP ${status}`,
              status,
              parseRetryAfter(headerOf(res, 'retry-after')),
            ),
          );
          return;
        }
        const type = headerOf(res, 'content-type') ?? '';
        if (!JSON_TYPE.test(type)) {
          res.resume();
          finish(
            new FetchError(
              `${url.origin}${url.pathname} answered content-type ${JSON.stringify(type.slice(0, 64))}, not JSON`,
            ),
          );
          return;
        }
        const encoding = headerOf(res, 'content-encoding');
        if (encoding !== undefined && encoding !== 'identity') {
          res.resume();
          finish(
            new FetchError(
              `${url.origin}${url.pathname} answered an encoded body (${encoding.slice(0, 32)})`,
            ),
          );
          return;
        }
        const declared = Number(headerOf(res, 'content-length') ?? '0');
        if (declared > settings.maxBytes) {
          finish(
            new FetchError(
              `${url.origin}${url.pathname} body of ${declared} bytes exceeds ${settings.maxBytes}`,
            ),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > settings.maxBytes) {
            finish(new FetchError(`${url.origin}${url.pathname} body exceeds ${settings.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (error) => finish(new FetchError(`${url.origin}${url.pathname}: ${error.message}`)));
        res.on('aborted', () => finish(new FetchError(`${url.origin}${url.pathname}: response aborted`)));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            finish(new FetchError(`${url.origin}${url.pathname} answered invalid JSON`));
            return;
          }
          finish(undefined, { body, maxAge: parseMaxAge(headerOf(res, 'cache-control')) });
        });
      };
      const options = { method: 'GET', headers, agent: false as const, timeout: settings.timeout };
      const req =
        url.protocol === 'https:'
          ? httpsRequest(
              url,
              { ...options, ...(ca === undefined ? {} : { ca }), minVersion: 'TLSv1.2' },
              onResponse,
            )
          : httpRequest(url, options, onResponse);
      this.#inflight.add(req);
      const timer = setTimeout(
        () =>
          finish(
            new FetchError(
              `${url.origin}${url.pathname} did not answer within ${settings.timeout} ms`,
              undefined,
              undefined,
              'ETIMEDOUT',
            ),
          ),
        settings.timeout,
      );
      timer.unref();
      req.on('error', (error: NodeJS.ErrnoException) =>
        finish(
          new FetchError(`${url.origin}${url.pathname}: ${error.message}`, undefined, undefined, error.code),
        ),
      );
      req.end();
    });
  }

  /** Abort every fetch in flight and refuse new ones. */
  close(): void {
    this.#closed = true;
    for (const req of this.#inflight) req.destroy(new FetchError('the verifier is closed'));
    this.#inflight.clear();
  }
}

function headerOf(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
