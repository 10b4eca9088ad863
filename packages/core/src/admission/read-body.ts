import type { RequestLike } from '../contracts/verifier.js';
import { AdmissionReviewTooLargeError, MalformedAdmissionReviewError } from '../errors.js';
import { readReviewHead } from './review-head.js';

/** The parts of a Node readable we look at, when the stream is one. */
interface NodeReadableLike {
  readableDidRead?: boolean;
  readableEnded?: boolean;
  destroy?: (error?: Error) => void;
  resume?: () => void;
  iterator?: (options: { destroyOnReturn: boolean }) => AsyncIterable<Uint8Array | string>;
}

// Past this many times the limit, a body is no longer drained but the connection dropped.
const DRAIN_FACTOR = 4;

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** True when the stream exists and nothing (a body parser) has consumed it. */
function unread(stream: RequestLike['stream']): stream is NonNullable<RequestLike['stream']> {
  if (stream === undefined || stream === null || typeof stream[Symbol.asyncIterator] !== 'function')
    return false;
  const node = stream as unknown as NodeReadableLike;
  return node.readableDidRead !== true && node.readableEnded !== true;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new MalformedAdmissionReviewError(
      `the body is not JSON: ${(error as Error).message.slice(0, 100)}`,
    );
  }
}

async function readStream(stream: NonNullable<RequestLike['stream']>, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = toBuffer(chunk);
    total += bytes.byteLength;
    if (total > maxBytes * DRAIN_FACTOR) {
      // Leaving the loop destroys the stream: a sender that never stops loses its connection.
      break;
    }
    // Past the limit the rest is drained and dropped, so that the 413 can still be sent.
    if (total <= maxBytes) chunks.push(bytes);
  }
  if (total > maxBytes) throw new AdmissionReviewTooLargeError(`the body exceeds ${maxBytes} bytes`);
  return parse(Buffer.concat(chunks, total).toString('utf8'));
}

function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string'
    ? Buffer.from(chunk, 'utf8')
    : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The request's body for admission mode: the parsed `body` when a parser ran (a raw Buffer or
 * string body is parsed here), else the JSON read from the untouched `stream`, capped at
 * `maxBytes` (413 `admission_review_too_large`; unparsable JSON is 400 `malformed_admission_review`).
 * `fromStream` tells an adapter that it should store the parsed body for the handler.
 */
export async function readAdmissionBody(request: RequestLike, maxBytes: number): Promise<AdmissionBody> {
  const { body, stream } = request;
  if (typeof body === 'string' || isBytes(body)) {
    const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
    if (size > maxBytes) throw new AdmissionReviewTooLargeError(`the body exceeds ${maxBytes} bytes`);
    return {
      body: parse(
        typeof body === 'string'
          ? body
          : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'),
      ),
      fromStream: false,
    };
  }
  if (readsStream(request))
    return {
      body: await readStream(stream as NonNullable<typeof stream>, maxBytes),
      fromStream: true,
    };
  return { body, fromStream: false };
}

/** True when the AdmissionReview has yet to be read from the request's stream (no parser ran). */
export function readsStream(request: RequestLike): boolean {
  const { body, stream } = request;
  if (typeof body === 'string' || isBytes(body)) return false;
  // Express 4's json parser sets `{}` when the content type did not match and leaves the stream unread.
  const placeholder =
    body === undefined ||
    (typeof body === 'object' &&
      body !== null &&
      Object.keys(body).length === 0 &&
      (stream as NodeReadableLike | undefined)?.readableDidRead === false);
  return placeholder && unread(stream);
}

/** A request's AdmissionReview, and whether it was read from the stream (so the handler needs it handed on). */
export interface AdmissionBody {
  body: unknown;
  fromStream: boolean;
}

/**
 * Reads of a request's stream, by stream: the request object is copied on its way through the
 * verifier, its stream is not. Weak, so a finished request takes its body with it.
 */
const reads = new WeakMap<object, Promise<AdmissionBody>>();

function streamKey(request: RequestLike): object | undefined {
  const { stream } = request;
  return typeof stream === 'object' && stream !== null ? stream : undefined;
}

/**
 * {@link readAdmissionBody}, once per request stream: the KEP-6060 check of a verified token, the
 * adapter handing the body on, and a denial echoing the review's uid share one read.
 */
export function readAdmissionBodyOnce(request: RequestLike, maxBytes: number): Promise<AdmissionBody> {
  const key = streamKey(request);
  const started = key === undefined ? undefined : reads.get(key);
  if (started !== undefined) return started;
  const reading = readAdmissionBody(request, maxBytes);
  if (key !== undefined) reads.set(key, reading);
  return reading;
}

/** The read of this request's stream already started by {@link readAdmissionBodyOnce}, if any. */
export function startedAdmissionBodyRead(request: RequestLike): Promise<AdmissionBody> | undefined {
  const key = streamKey(request);
  return key === undefined ? undefined : reads.get(key);
}

/**
 * The head of a rejected request's AdmissionReview, enough for its denial (`kind`, `apiVersion`,
 * `request.uid`): the whole body parsed when it fits in `headBytes`, else what the first
 * `headBytes` hold (kube-apiserver writes those fields first), the rest discarded unread into
 * memory. Within `timeoutMs`, past which the connection is dropped. Undefined when nothing usable
 * arrived; never throws.
 */
export async function readDenialHead(
  request: RequestLike,
  headBytes: number,
  timeoutMs: number,
): Promise<unknown> {
  if (!readsStream(request)) return request.body;
  const stream = request.stream as NonNullable<RequestLike['stream']>;
  const node = stream as unknown as NodeReadableLike;
  // A Node stream is left open when the loop stops early, so that the answer can still be sent.
  const source =
    typeof node.iterator === 'function' ? node.iterator.call(stream, { destroyOnReturn: false }) : stream;
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let total = 0;
  let complete = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    while (total <= headBytes) {
      const next = await Promise.race([iterator.next(), deadline]);
      if (next === 'timeout') {
        // A sender trickling its body (slow loris) loses its connection; a stream that is no
        // Node stream (a Fetch body) is cancelled.
        if (typeof node.destroy === 'function') node.destroy(new Error('read timeout'));
        else void Promise.resolve(iterator.return?.()).catch(() => undefined);
        return undefined;
      }
      if (next.done === true) {
        complete = true;
        break;
      }
      const bytes = toBuffer(next.value);
      chunks.push(bytes);
      total += bytes.byteLength;
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
  if (!complete) {
    await Promise.resolve(iterator.return?.()).catch(() => undefined);
    // The rest flows off the wire and is dropped, as Node does for a body nobody reads.
    node.resume?.();
  }
  const text = Buffer.concat(chunks, total).subarray(0, headBytes).toString('utf8');
  if (complete) {
    try {
      return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      return undefined;
    }
  }
  return readReviewHead(text);
}
