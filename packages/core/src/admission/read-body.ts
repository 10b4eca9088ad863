import type { RequestLike } from '../contracts/verifier.js';
import { AdmissionReviewTooLargeError, MalformedAdmissionReviewError } from '../errors.js';

/** The parts of a Node readable we look at, when the stream is one. */
interface NodeReadableLike {
  readableDidRead?: boolean;
  readableEnded?: boolean;
  destroy?: (error?: Error) => void;
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
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
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

/**
 * The request's body for admission mode: the parsed `body` when a parser ran (a raw Buffer or
 * string body is parsed here), else the JSON read from the untouched `stream`, capped at
 * `maxBytes` (413 `admission_review_too_large`; unparsable JSON is 400 `malformed_admission_review`).
 * `fromStream` tells an adapter that it should store the parsed body for the handler.
 */
export async function readAdmissionBody(
  request: RequestLike,
  maxBytes: number,
): Promise<{ body: unknown; fromStream: boolean }> {
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
  // Express 4's json parser sets `{}` when the content type did not match and leaves the stream unread.
  const placeholder =
    body === undefined ||
    (typeof body === 'object' &&
      body !== null &&
      Object.keys(body).length === 0 &&
      (stream as NodeReadableLike | undefined)?.readableDidRead === false);
  if (placeholder && unread(stream)) return { body: await readStream(stream, maxBytes), fromStream: true };
  return { body, fromStream: false };
}
