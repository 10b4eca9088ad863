/** ANSI styling that is on only for a terminal that wants it. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

const wrap = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

const COLOURS: Style = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
};

const PLAIN: Style = {
  bold: (text) => text,
  dim: (text) => text,
  red: (text) => text,
  green: (text) => text,
  yellow: (text) => text,
};

/**
 * Colour only when the stream is a TTY that reports colours, `NO_COLOR` is unset or empty
 * (https://no-color.org) and `--no-color` was not given. `hasColors()` also honours `FORCE_COLOR`,
 * `NODE_DISABLE_COLORS` and `TERM=dumb`.
 */
export function styleFor(
  stream: NodeJS.WritableStream & { isTTY?: boolean; hasColors?: () => boolean },
  env: NodeJS.ProcessEnv,
  enabled = true,
): Style {
  if (!enabled || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')) return PLAIN;
  if (stream.isTTY !== true || typeof stream.hasColors !== 'function' || !stream.hasColors()) return PLAIN;
  return COLOURS;
}
