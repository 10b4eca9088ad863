import { readFileSync } from 'node:fs';
import { CliError, ExitCode } from './exit-codes.js';

/** Reads all of stdin as text. */
export async function readStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The token of a command: the argument, `-` for stdin, or `--file`. Surrounding whitespace and a
 * `Bearer ` prefix (pasted from a header) are dropped.
 */
export async function readToken(argument: string | undefined, file: string | undefined): Promise<string> {
  if (argument !== undefined && file !== undefined) {
    throw new CliError('give the token as an argument, as "-" (stdin) or with --file, not several');
  }
  let text: string;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliError(`cannot read --file ${file}: ${(error as Error).message}`, ExitCode.failure);
    }
  } else if (argument === undefined || argument === '-') {
    if (argument === undefined && process.stdin.isTTY) {
      throw new CliError('no token: give it as an argument, "-" to read stdin, or --file PATH');
    }
    text = await readStdin();
  } else {
    text = argument;
  }
  const token = text.trim().replace(/^bearer\s+/i, '');
  if (token === '') throw new CliError('the token is empty', ExitCode.failure);
  return token;
}
