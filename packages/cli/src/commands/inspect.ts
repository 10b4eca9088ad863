import { type Command, Option } from 'commander';
import { describeToken, type TokenDescription, type TokenTime } from '../lib/describe-token.js';
import { formatDuration } from '../lib/duration.js';
import { CliError, ExitCode } from '../lib/exit-codes.js';
import { type Io, line } from '../lib/io.js';
import { UndecodableTokenError } from '../lib/jwt.js';
import { parseTime } from '../lib/parse-time.js';
import { readToken } from '../lib/read-input.js';

const NOT_VERIFIED =
  'NOT VERIFIED: decoded without checking the signature; anyone can write these claims. Run `apiserver-token verify` to check it.';

interface InspectOptions {
  file?: string;
  output: 'text' | 'json';
  at?: string;
}

function time(label: string, value: TokenTime | undefined): string[] {
  return value ? [label, `${value.time} (${value.relative})`] : [];
}

function render(description: TokenDescription, io: Io): void {
  const { style } = io;
  const rows: string[][] = [];
  const add = (label: string, value: string | undefined) => {
    if (value !== undefined && value !== '') rows.push([label, value]);
  };
  add('issuer', description.issuer ?? '(none)');
  add('audiences', description.audiences.length > 0 ? description.audiences.join(', ') : '(none)');
  add('subject', description.subject ?? '(none)');
  if (description.serviceAccount) {
    const { namespace, name, uid } = description.serviceAccount;
    add('service account', `${namespace}/${name}${uid ? ` (uid ${uid})` : ''}`);
  }
  if (description.boundObject) {
    const { kind, name, namespace, uid } = description.boundObject;
    add('bound to', `${kind} ${namespace ? `${namespace}/` : ''}${name}${uid ? ` (uid ${uid})` : ''}`);
  }
  if (description.node) {
    add('node', `${description.node.name}${description.node.uid ? ` (uid ${description.node.uid})` : ''}`);
  }
  if (description.attestations) {
    add(
      'attestations',
      Object.entries(description.attestations)
        .map(
          ([key, value]) =>
            `${key}: ${Array.isArray(value) ? value.map(String).join(', ') : JSON.stringify(value)}`,
        )
        .join('; '),
    );
  }
  add('jti', description.jti);
  for (const [label, value] of [
    time('issued at', description.issuedAt),
    time('not before', description.notBefore),
    time('expires', description.expiresAt),
    time('warn after', description.warnAfter),
  ]) {
    if (label) add(label, value);
  }
  if (description.lifetimeSeconds !== undefined)
    add('lifetime', formatDuration(description.lifetimeSeconds * 1000));
  add(
    'algorithm',
    [description.algorithm ?? '(none)', description.keyId ? `kid ${description.keyId}` : '']
      .filter(Boolean)
      .join(', '),
  );
  const extra = Object.keys(description.otherHeaderParameters);
  if (extra.length > 0) add('other header', JSON.stringify(description.otherHeaderParameters));
  add('fingerprint', description.fingerprint);

  line(io.stdout, style.bold(style.yellow(`! ${NOT_VERIFIED}`)));
  const width = Math.max(...rows.map(([label]) => label!.length));
  for (const [label, value] of rows) line(io.stdout, `${style.dim(label!.padEnd(width))}  ${value}`);
  if (description.warnings.length > 0) {
    line(io.stdout, style.bold('warnings:'));
    for (const warning of description.warnings) {
      line(io.stdout, `  ${style.red('-')} ${warning.message} ${style.dim(`[${warning.code}]`)}`);
    }
  }
}

/** `apiserver-token inspect [TOKEN|-] [--file PATH] [--output json] [--at TIME]`. */
export function registerInspect(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('inspect')
    .summary('decode a token WITHOUT verifying it and explain what it says')
    .description(
      'Decode a service-account token without verifying it: issuer, audiences, subject, service account, bound object (pod, secret, node, webhook configuration), KEP-6060 attestations, jti, times as absolute values and "in 7m12s"/"expired 3h ago", warnafter, and warnings. The signature is never printed.',
    )
    .argument('[token]', 'the token, or "-" to read it from stdin (default when stdin is not a terminal)')
    .option('-f, --file <path>', 'read the token from a file (e.g. an admission kubeconfig tokenFile)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--at <time>', 'evaluate times as of this instant (RFC 3339 or epoch seconds) instead of now')
    .addHelpText(
      'after',
      `
Examples:
  $ apiserver-token inspect eyJhbGciOiJSUzI1NiIs...
  $ kubectl create token my-sa --audience https://my-webhook.my-ns.svc:443/validate | apiserver-token inspect -
  $ apiserver-token inspect --file /etc/kubernetes/admission/my-webhook.token --output json
  $ apiserver-token inspect --file token.jwt --at 2026-12-01T04:30:00Z

Exit status: 0 decoded (whatever the warnings), 1 not a decodable JWT, 64 usage error.`,
    )
    .action(async (argument: string | undefined, options: InspectOptions) => {
      const now = options.at !== undefined ? parseTime(options.at) : io.now();
      const token = await readToken(argument, options.file);
      let description: TokenDescription;
      try {
        description = describeToken(token, now);
      } catch (error) {
        if (error instanceof UndecodableTokenError) {
          throw new CliError(`not a decodable JWT: ${error.message}`, ExitCode.failure);
        }
        throw error;
      }
      if (options.output === 'json') {
        line(io.stderr, io.errorStyle.yellow(`! ${NOT_VERIFIED}`));
        line(io.stdout, JSON.stringify({ notice: NOT_VERIFIED, ...description }, null, 2));
      } else {
        render(description, io);
      }
      setExit(ExitCode.ok);
    });
}
