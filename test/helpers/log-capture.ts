import { Writable } from 'node:stream';

/** One JSON line as pino writes it; each framework binds the request its own way. */
export interface LogLine {
  level: number;
  msg: string;
  reqId?: unknown;
  req?: { id?: unknown; url?: string };
  [key: string]: unknown;
}

/**
 * A stream a real pino logger writes to, keeping every line: `raw` as written (to search for a
 * token that must never be there), `lines()` parsed.
 */
export function captureLog(): { stream: Writable; raw: string[]; lines: () => LogLine[] } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { stream, raw, lines: () => raw.map((text) => JSON.parse(text) as LogLine) };
}
