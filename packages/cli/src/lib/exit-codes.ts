/** Exit statuses of the `apiserver-token` command, the same for every sub-command. */
export const ExitCode = {
  /** Done: token decoded, accepted, audiences printed, token file fresh. */
  ok: 0,
  /** verify: the token is rejected (401/403). token-file: renewal failed (`--once`), gave up, or the token expired unrenewed. inspect/audience: the input cannot be read as a token / webhook configuration. */
  failure: 1,
  /** verify: the verdict could not be reached (keys or TokenReview unreachable: 503). */
  unavailable: 2,
  /** Wrong usage or configuration: unknown flag, missing value, bad option (sysexits `EX_USAGE`). */
  usage: 64,
} as const;

/** An error that ends the command with a given exit status and message (no stack trace). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.usage,
  ) {
    super(message);
  }
}
