import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { CliError, ExitCode } from '../lib/exit-codes.js';
import { type Io, line } from '../lib/io.js';
import { readStdin } from '../lib/read-input.js';
import { type WebhookAudienceRow, webhookAudiences } from '../lib/webhook-configurations.js';

interface AudienceOptions {
  file: string[];
  output: 'text' | 'json';
}

function table(rows: WebhookAudienceRow[], io: Io): void {
  const { style } = io;
  const header = ['CONFIGURATION', 'WEBHOOK', 'AUDIENCE', 'KUBECONFIG USER'];
  const cells = rows.map((row) => [
    `${row.kind === 'ValidatingWebhookConfiguration' ? 'validating' : 'mutating'}/${row.configuration}`,
    row.webhook,
    row.audience ?? `error: ${row.error}`,
    row.kubeconfigUser ?? '',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((row) => row[column]!.length)),
  );
  // Pad first, colour after: escape sequences must not count towards the width.
  const format = (values: string[], paint: (value: string, column: number) => string = (value) => value) =>
    values
      .map((value, column) =>
        paint(column === values.length - 1 ? value : value.padEnd(widths[column]!), column),
      )
      .join('  ')
      .trimEnd();
  line(io.stdout, style.bold(format(header)));
  cells.forEach((row, index) => {
    line(
      io.stdout,
      format(row, (value, column) =>
        column === 2 && rows[index]!.error !== undefined ? style.red(value) : value,
      ),
    );
  });
}

/** `apiserver-token audience -f webhookconfiguration.yaml`. */
export function registerAudience(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('audience')
    .summary('the audience and admission-kubeconfig user of each webhook of a webhook configuration')
    .description(
      "For each webhook of the Validating/MutatingWebhookConfigurations in the files (YAML or JSON, several documents, List wrappers), print the audience kube-apiserver 1.37+ puts in its KEP-6060 token (the URL verbatim, or https://<svc>.<ns>.svc:<port><path>) and the user name of kube-apiserver's admission kubeconfig that matches the webhook (<svc>.<ns>.svc, :<port> unless 443; host[:port] of a URL).",
    )
    .requiredOption('-f, --file <path...>', 'webhook configuration file(s); "-" reads stdin')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Examples:
  $ apiserver-token audience -f deploy/55-validatingwebhookconfiguration.yaml
  $ kubectl get validatingwebhookconfiguration my-webhook -o yaml | apiserver-token audience -f -
  $ apiserver-token audience -f webhooks.yaml -o json | jq -r '.[].audience'

Exit status: 0 printed, 1 a file holds no webhook configuration or a webhook has an invalid clientConfig, 64 usage error.`,
    )
    .action(async (options: AudienceOptions) => {
      const rows: WebhookAudienceRow[] = [];
      for (const file of options.file) {
        let text: string;
        try {
          text = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
        } catch (error) {
          throw new CliError(`cannot read ${file}: ${(error as Error).message}`, ExitCode.failure);
        }
        try {
          rows.push(...webhookAudiences(text, file === '-' ? 'stdin' : file));
        } catch (error) {
          throw new CliError((error as Error).message, ExitCode.failure);
        }
      }
      if (rows.length === 0) {
        throw new CliError(
          `no webhooks found: ${options.file.join(', ')} holds no ValidatingWebhookConfiguration or MutatingWebhookConfiguration with webhooks`,
          ExitCode.failure,
        );
      }
      if (options.output === 'json') line(io.stdout, JSON.stringify(rows, null, 2));
      else table(rows, io);
      setExit(rows.some((row) => row.error !== undefined) ? ExitCode.failure : ExitCode.ok);
    });
}
