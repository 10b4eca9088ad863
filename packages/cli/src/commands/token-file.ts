import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { parseDuration } from '../lib/duration.js';
import { CliError, ExitCode } from '../lib/exit-codes.js';
import { type Io, line } from '../lib/io.js';
import { parseListen, startHealthServer } from '../token-file/health-server.js';
import { type LogEntry, type RefresherOutcome, TokenFileRefresher } from '../token-file/refresher.js';
import { TokenRequestError, type WebhookBinding } from '../token-file/token-request-types.js';

interface TokenFileOptions {
  namespace: string;
  serviceAccount: string;
  audience: string[];
  out: string[];
  expiration?: string;
  kubeconfig?: string;
  context?: string;
  once?: boolean;
  force?: boolean;
  maxFailures: string;
  backoffInitial: string;
  backoffMax: string;
  timeout: string;
  boundTo?: string;
  attestApiGroup?: string;
  listen?: string;
}

const MIN_EXPIRATION = 600;
const MAX_EXPIRATION = 2 ** 32;
const WEBHOOK_EXPIRATION = 600;
const WEBHOOK_KINDS = ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'] as const;

const collect = (value: string, previous: string[]) => [...previous, value];

function duration(flag: string, value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new CliError(`${flag}: ${(error as Error).message}`);
  }
}

function binding(options: TokenFileOptions): WebhookBinding | undefined {
  if (options.boundTo === undefined) {
    if (options.attestApiGroup !== undefined) throw new CliError('--attest-api-group needs --bound-to');
    return undefined;
  }
  const [kind, name, ...rest] = options.boundTo.split('/');
  if (!WEBHOOK_KINDS.includes(kind as (typeof WEBHOOK_KINDS)[number]) || !name || rest.length > 0) {
    throw new CliError(
      `--bound-to ${JSON.stringify(options.boundTo)}: expected ValidatingWebhookConfiguration/<name> or MutatingWebhookConfiguration/<name>`,
    );
  }
  if (options.attestApiGroup === undefined) {
    throw new CliError(
      '--bound-to needs --attest-api-group: the one API group the token may ask about (e.g. apps, "" for core, * for all)',
    );
  }
  return { kind: kind as WebhookBinding['kind'], name, apiGroup: options.attestApiGroup };
}

function expirationSeconds(options: TokenFileOptions, bound: boolean): number {
  if (bound) {
    // KEP-6060 webhook tokens last exactly 600 s; the API refuses anything else.
    if (
      options.expiration !== undefined &&
      duration('--expiration', options.expiration) !== WEBHOOK_EXPIRATION * 1000
    ) {
      throw new CliError(
        `--expiration: a token bound with --bound-to lasts exactly ${WEBHOOK_EXPIRATION}s (10m); leave --expiration out`,
      );
    }
    return WEBHOOK_EXPIRATION;
  }
  const ms = duration('--expiration', options.expiration ?? '1h');
  const seconds = Math.floor(ms / 1000);
  if (seconds < MIN_EXPIRATION || seconds > MAX_EXPIRATION || ms % 1000 !== 0) {
    throw new CliError(
      `--expiration ${options.expiration}: whole seconds from 10m (the TokenRequest API's minimum) to 2^32s`,
    );
  }
  return seconds;
}

function count(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`${flag}: a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** `apiserver-token token-file`: keeps admission-kubeconfig token files fresh through TokenRequest. */
export function registerTokenFile(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('token-file')
    .summary('keep a kubeconfig tokenFile fresh through the TokenRequest API')
    .description(
      "Request a token for a service account with the webhook's audience through the TokenRequest API (@kubernetes/client-node: --kubeconfig, KUBECONFIG, in-cluster, or ~/.kube/config) and keep a file fresh with it: renewed at about 80% of its lifetime (with jitter), written atomically (temporary file in the same directory, fsync, rename; mode 0600; owner kept), never replaced by an empty or invalid token, retried with exponential backoff and jitter while the held token is valid. Several --audience/--out pairs are kept by one process. Logs are JSON lines on stderr and never hold a token, only its fingerprint.",
    )
    .requiredOption('-n, --namespace <namespace>', 'namespace of the service account')
    .requiredOption(
      '--service-account <name>',
      'the service account the tokens are for (it needs no permission of its own)',
    )
    .requiredOption(
      '--audience <url>',
      "the token's audience: the webhook's URL (repeat, one per --out)",
      collect,
      [],
    )
    .requiredOption(
      '--out <path>',
      'the file to keep fresh (repeat, one per --audience, same order)',
      collect,
      [],
    )
    .option(
      '--expiration <duration>',
      'requested lifetime, 10m at least (1h, 90m, 3600…); default 1h, 10m with --bound-to',
    )
    .option(
      '--kubeconfig <path>',
      'credentials allowed to create serviceaccounts/token (default: KUBECONFIG, in-cluster, ~/.kube/config)',
    )
    .option('--context <name>', 'kubeconfig context to use instead of the current one')
    .option(
      '--once',
      'renew the files that are missing, invalid or due, once each, then exit (cron, systemd timers)',
    )
    .option('--force', 'with --once: renew every file, even fresh ones')
    .option(
      '--max-failures <n>',
      'give up (exit 1) after this many consecutive failures of one file; 0 = never',
      '0',
    )
    .option(
      '--backoff-initial <duration>',
      'first retry delay, doubled after each failure, with jitter',
      '1s',
    )
    .option('--backoff-max <duration>', 'longest retry delay', '2m')
    .option('--timeout <duration>', 'one TokenRequest, connection to last byte', '10s')
    .option(
      '--bound-to <kind/name>',
      'KEP-6060 (Kubernetes 1.37+): bind the tokens to this Validating/MutatingWebhookConfiguration (lifetime 600s)',
    )
    .option(
      '--attest-api-group <group>',
      'with --bound-to: the API group the tokens may send AdmissionReviews about ("" core, * all)',
    )
    .addOption(
      new Option(
        '--listen <[host:]port>',
        'serve /healthz (200 while every file holds an unexpired token) and /metrics (Prometheus)',
      ),
    )
    .addHelpText(
      'after',
      `
Examples:
  # In a DaemonSet on control-plane nodes (in-cluster credentials):
  $ apiserver-token token-file -n kube-system --service-account apiserver-webhook-caller \\
      --audience https://my-webhook.my-ns.svc:443/validate --out /etc/kubernetes/admission/my-webhook.token \\
      --listen :9090
  # Two webhooks, one process:
  $ apiserver-token token-file -n kube-system --service-account apiserver-webhook-caller \\
      --audience https://a.ns.svc:443/validate --out /etc/kubernetes/admission/a.token \\
      --audience https://b.ns.svc:8443/ --out /etc/kubernetes/admission/b.token
  # From a systemd timer on a host without kubelet:
  $ apiserver-token token-file --once --kubeconfig /etc/kubernetes/token-refresher.kubeconfig \\
      -n kube-system --service-account apiserver-webhook-caller \\
      --audience https://my-webhook.my-ns.svc:443/validate --out /etc/kubernetes/admission/my-webhook.token
  # KEP-6060 webhook token (Kubernetes 1.37+):
  $ apiserver-token token-file -n kube-system --service-account apiserver-webhook-caller \\
      --audience https://my-webhook.my-ns.svc:443/validate --out /etc/kubernetes/admission/my-webhook.token \\
      --bound-to ValidatingWebhookConfiguration/my-webhook --attest-api-group apps

Exit status: 0 stopped by SIGTERM/SIGINT, or --once with every file fresh or renewed;
1 --once failed, --max-failures reached, a held token expired unrenewed, or the apiserver refused the
request as invalid (400/422, e.g. --bound-to on a cluster without KEP-6060); 64 usage error.`,
    )
    .action(async (options: TokenFileOptions) => {
      if (options.audience.length !== options.out.length) {
        throw new CliError(
          `give one --out per --audience, in the same order (got ${options.audience.length} --audience and ${options.out.length} --out)`,
        );
      }
      const outs = options.out.map((out) => resolve(out));
      if (new Set(outs).size !== outs.length) throw new CliError('each --out must be a different file');
      if (options.force && !options.once) throw new CliError('--force only goes with --once');
      const bound = binding(options);
      const lifetime = expirationSeconds(options, bound !== undefined);
      const maxFailures = count('--max-failures', options.maxFailures);
      const backoff = {
        initialMs: duration('--backoff-initial', options.backoffInitial),
        maxMs: duration('--backoff-max', options.backoffMax),
      };
      if (backoff.initialMs <= 0 || backoff.maxMs < backoff.initialMs) {
        throw new CliError('--backoff-initial must be positive and not above --backoff-max');
      }
      const timeoutMs = duration('--timeout', options.timeout);
      const listen = options.listen !== undefined ? parseListenFlag(options.listen) : undefined;

      const log = (entry: LogEntry) =>
        line(io.stderr, JSON.stringify({ time: new Date(io.now()).toISOString(), ...entry }));
      // Loaded on use: @kubernetes/client-node takes seconds to import on a busy node.
      const { createTokenRequester } = await import('../token-file/token-request.js');
      let requestToken: ReturnType<typeof createTokenRequester>;
      try {
        requestToken = createTokenRequester({
          ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
          ...(options.context !== undefined ? { context: options.context } : {}),
          timeoutMs,
        });
      } catch (error) {
        const message =
          error instanceof TokenRequestError
            ? error.message
            : `cannot load the kubeconfig: ${(error as Error).message}`;
        throw new CliError(message);
      }
      const refresher = new TokenFileRefresher({
        namespace: options.namespace,
        serviceAccount: options.serviceAccount,
        targets: options.audience.map((audience, index) => ({ audience, out: outs[index]! })),
        expirationSeconds: lifetime,
        ...(bound ? { binding: bound } : {}),
        requestToken,
        maxFailures,
        backoff,
        log,
        now: io.now,
      });
      log({
        level: 'info',
        event: 'start',
        namespace: options.namespace,
        serviceAccount: options.serviceAccount,
        files: outs,
        expirationSeconds: lifetime,
        ...(bound ? { boundTo: `${bound.kind}/${bound.name}`, attestApiGroup: bound.apiGroup } : {}),
        mode: options.once ? 'once' : 'daemon',
      });

      let outcome: RefresherOutcome;
      if (options.once) {
        outcome = await refresher.once(options.force === true);
      } else {
        const controller = new AbortController();
        const onSignal = (signal: NodeJS.Signals) => {
          log({ level: 'info', event: 'shutdown', signal });
          controller.abort();
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        const health = listen
          ? await startHealthServer(
              refresher,
              (await import('../token-file/metrics.js')).refresherMetrics(refresher),
              listen,
            )
          : undefined;
        if (health)
          log({
            level: 'info',
            event: 'listening',
            address: health.address.address,
            port: health.address.port,
          });
        try {
          outcome = await refresher.run(controller.signal);
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          if (health) {
            health.server.closeAllConnections();
            await new Promise((done) => health.server.close(done));
          }
        }
      }
      if (outcome.result === 'failed') {
        log({ level: 'error', event: 'exit', reason: outcome.reason, error: outcome.message });
        setExit(ExitCode.failure);
      } else {
        log({ level: 'info', event: 'exit', reason: outcome.result });
        setExit(ExitCode.ok);
      }
    });
}

function parseListenFlag(value: string): ReturnType<typeof parseListen> {
  try {
    return parseListen(value);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}
