import { createRequire } from 'node:module';
import { ApiserverTokenConfigError } from '@apiserver-token/core';
import { Command, CommanderError } from 'commander';
import { registerAudience } from './commands/audience.js';
import { registerInspect } from './commands/inspect.js';
import { registerTokenFile } from './commands/token-file.js';
import { registerVerify } from './commands/verify.js';
import { CliError, ExitCode } from './lib/exit-codes.js';
import { type Io, line } from './lib/io.js';
import { styleFor } from './lib/style.js';

type Stream = NodeJS.WritableStream & { isTTY?: boolean; hasColors?: () => boolean };

/** Streams, environment and clock of one run; the process's own by default. */
export interface RunContext {
  stdout?: Stream;
  stderr?: Stream;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

// Both src/ and dist/ sit right under the package root.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/**
 * Runs the `apiserver-token` command with `argv` (without the node and script paths) and resolves
 * to its exit status. Never calls `process.exit`.
 */
export async function run(argv: string[], context: RunContext = {}): Promise<number> {
  const stdout = context.stdout ?? process.stdout;
  const stderr = context.stderr ?? process.stderr;
  const env = context.env ?? process.env;
  const io: Io = {
    stdout,
    stderr,
    env,
    style: styleFor(stdout, env),
    errorStyle: styleFor(stderr, env),
    now: context.now ?? Date.now,
  };
  let exitCode: number = ExitCode.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };

  const program = new Command('apiserver-token')
    .description(
      'Inspect and verify the service-account tokens a kube-apiserver sends to webhooks, derive webhook audiences, and keep an admission kubeconfig tokenFile fresh.',
    )
    .version(version, '-V, --version', 'print the version')
    .option('--no-color', 'never colour the output (also: NO_COLOR=1; colour is only used on a terminal)')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run with --help for usage and examples)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => stdout.write(text),
      writeErr: (text) => stderr.write(text),
      outputError: (text, write) => write(io.errorStyle.red(text)),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ apiserver-token inspect --file /etc/kubernetes/admission/my-webhook.token
  $ apiserver-token verify "$TOKEN" --audience https://my-webhook.my-ns.svc:443/validate --issuer https://kubernetes.default.svc.cluster.local
  $ apiserver-token audience -f validatingwebhookconfiguration.yaml
  $ apiserver-token token-file --namespace kube-system --service-account apiserver-webhook-caller \\
      --audience https://my-webhook.my-ns.svc:443/validate --out /etc/kubernetes/admission/my-webhook.token

Exit status: 0 success, 1 rejected/failed, 2 unavailable (verify), 64 usage or configuration error.
Run "apiserver-token <command> --help" for a command's flags, examples and exit status.`,
    )
    .hook('preAction', (command) => {
      if (command.opts().color === false) {
        io.style = styleFor(stdout, env, false);
        io.errorStyle = styleFor(stderr, env, false);
      }
    });
  for (const register of [registerInspect, registerVerify, registerAudience, registerTokenFile]) {
    register(program, io, setExit);
  }
  program.commands.forEach((command) => {
    command.exitOverride().showHelpAfterError('(run with --help for usage and examples)');
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return ExitCode.ok;
      }
      // Commander has printed the message already.
      return ExitCode.usage;
    }
    if (error instanceof CliError) {
      line(stderr, io.errorStyle.red(`apiserver-token: ${error.message}`));
      return error.exitCode;
    }
    if (error instanceof ApiserverTokenConfigError) {
      line(stderr, io.errorStyle.red(`apiserver-token: invalid configuration: ${error.message}`));
      return ExitCode.usage;
    }
    line(
      stderr,
      io.errorStyle.red(`apiserver-token: unexpected error: ${(error as Error)?.stack ?? String(error)}`),
    );
    return ExitCode.failure;
  }
}
