import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built command, as npm installs it (`bin` → dist/cli.js). The root `test` script builds it first. */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * An environment without the caller's APISERVER_TOKEN_*, KUBECONFIG or in-cluster variables, so a
 * test sees only what it sets.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/nonexistent' };
  return { ...env, ...extra };
}

/** Starts the CLI; stdin is the given text (closed), or /dev/null. */
export function startCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): ChildProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx pnpm@10 run build\` first`);
  const child = spawn(process.execPath, [CLI, ...args], {
    env: options.env ?? cleanEnv(),
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  return child;
}

/** Collects a started CLI's output until it exits. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<CliResult> {
  return collect(startCli(args, options));
}
