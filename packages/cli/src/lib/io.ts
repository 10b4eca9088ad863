import type { Style } from './style.js';

/** Where a command writes, and how it styles what it writes. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Styling for stdout (plain unless a colour TTY). */
  style: Style;
  /** Styling for stderr. */
  errorStyle: Style;
  /** The clock, in ms since the epoch. */
  now: () => number;
}

/** Writes one line. */
export const line = (stream: NodeJS.WritableStream, text = ''): void => {
  stream.write(`${text}\n`);
};
