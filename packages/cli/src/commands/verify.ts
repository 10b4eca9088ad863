import { readFileSync } from 'node:fs';
import {
  type ApiserverIdentity,
  type ApiserverTokenVerifier,
  createVerifier,
  isApiserverTokenError,
  type VerifierOptions,
} from '@apiserver-token/core';
import { type Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { relativeTime } from '../lib/duration.js';
import { CliError, ExitCode } from '../lib/exit-codes.js';
import { type Io, line } from '../lib/io.js';
import { parseTime } from '../lib/parse-time.js';
import { readToken } from '../lib/read-input.js';

interface VerifyOptions {
  file?: string;
  audience?: string[];
  issuer?: string[];
  mode?: 'jwks' | 'tokenreview' | 'hybrid';
  jwksUri?: string;
  jwksFile?: string;
  discoveryUrl?: string;
  caFile?: string;
  kubeconfig?: string;
  admissionReview?: string;
  boundTo?: string;
  allowLegacyTokens?: boolean;
  clockTolerance?: string;
  at?: string;
  output: 'text' | 'json';
}

const WEBHOOK_KINDS = ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'] as const;

function readAdmissionReview(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(
      `cannot read --admission-review ${path}: ${(error as Error).message}`,
      ExitCode.failure,
    );
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new CliError(
      `--admission-review ${path} is not JSON or YAML: ${(error as Error).message}`,
      ExitCode.failure,
    );
  }
}

function boundTo(value: string): { kind: (typeof WEBHOOK_KINDS)[number]; name: string } {
  const [kind, name, ...rest] = value.split('/');
  if (!WEBHOOK_KINDS.includes(kind as (typeof WEBHOOK_KINDS)[number]) || !name || rest.length > 0) {
    throw new CliError(
      `--bound-to ${JSON.stringify(value)}: expected ValidatingWebhookConfiguration/<name> or MutatingWebhookConfiguration/<name>`,
    );
  }
  return { kind: kind as (typeof WEBHOOK_KINDS)[number], name };
}

/** The verifier options the flags set; everything else comes from APISERVER_TOKEN_* as in the webhook. */
function verifierOptions(options: VerifyOptions, io: Io): VerifierOptions {
  const jwks: NonNullable<VerifierOptions['jwks']> = {};
  if (options.jwksUri !== undefined) jwks.uri = options.jwksUri;
  if (options.jwksFile !== undefined) jwks.keys = options.jwksFile;
  if (options.discoveryUrl !== undefined) jwks.discovery = options.discoveryUrl;
  if (options.caFile !== undefined) jwks.caFile = options.caFile;
  const result: VerifierOptions = { env: io.env } as VerifierOptions;
  if (options.audience !== undefined) result.audience = options.audience;
  if (options.issuer !== undefined)
    result.issuer = options.issuer.length === 1 ? options.issuer[0]! : options.issuer;
  if (options.mode !== undefined) result.mode = options.mode;
  if (Object.keys(jwks).length > 0) result.jwks = jwks;
  if (options.kubeconfig !== undefined) result.kubeconfig = options.kubeconfig;
  if (options.allowLegacyTokens) result.allowLegacyTokens = true;
  if (options.clockTolerance !== undefined) {
    const seconds = Number(options.clockTolerance);
    if (!Number.isFinite(seconds) || seconds < 0)
      throw new CliError('--clock-tolerance: a number of seconds');
    result.clockTolerance = seconds;
  }
  if (options.at !== undefined) {
    const at = parseTime(options.at);
    result.now = () => at;
  }
  if (options.admissionReview !== undefined) {
    result.admission = options.boundTo !== undefined ? { boundTo: boundTo(options.boundTo) } : true;
  } else if (options.boundTo !== undefined) {
    throw new CliError(
      '--bound-to needs --admission-review: the binding is checked against an AdmissionReview',
    );
  }
  return result;
}

function identityRows(identity: ApiserverIdentity, now: number): Array<[string, string]> {
  const rows: Array<[string, string | undefined]> = [
    ['username', identity.username],
    ['uid', identity.uid],
    ['groups', identity.groups.join(', ')],
    [
      'service account',
      identity.serviceAccount
        ? `${identity.serviceAccount.namespace}/${identity.serviceAccount.name}${identity.serviceAccount.uid ? ` (uid ${identity.serviceAccount.uid})` : ''}`
        : undefined,
    ],
    [
      'bound to',
      identity.boundObject
        ? `${identity.boundObject.kind} ${identity.boundObject.namespace ? `${identity.boundObject.namespace}/` : ''}${identity.boundObject.name}${identity.boundObject.uid ? ` (uid ${identity.boundObject.uid})` : ''}`
        : undefined,
    ],
    ['node', identity.node?.name],
    [
      'attestations',
      identity.attestations?.admissionReviewAPIGroups
        ? `admissionReviewAPIGroups: ${identity.attestations.admissionReviewAPIGroups.join(', ')}`
        : undefined,
    ],
    ['issuer', identity.issuer],
    ['audiences', identity.audiences.join(', ')],
    [
      'issued at',
      identity.issuedAt
        ? `${identity.issuedAt.toISOString()} (${relativeTime(identity.issuedAt.getTime(), now)})`
        : undefined,
    ],
    [
      'expires',
      identity.expiresAt
        ? `${identity.expiresAt.toISOString()} (${relativeTime(identity.expiresAt.getTime(), now)})`
        : undefined,
    ],
    ['warn after', identity.staleAfter?.toISOString()],
    ['verified by', identity.verifiedBy],
    ['fingerprint', identity.tokenFingerprint],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined && row[1] !== '');
}

/** `apiserver-token verify [TOKEN|-] --audience … [--issuer … | --jwks-uri … | --jwks-file … | --kubeconfig … --mode …]`. */
export function registerVerify(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('verify')
    .summary('verify a token exactly as the webhook middleware does, and say why it is rejected')
    .description(
      "Run the same createVerifier() as the middlewares on one token and print the identity, or the precise rejection code and reason the webhook only logs. Every APISERVER_TOKEN_* variable is read as the webhook reads it (flags win), so `kubectl exec deploy/my-webhook -- apiserver-token verify -` reproduces the pod's configuration. With --admission-review, the KEP-6060 checks (webhook binding, attested API groups against request.resource.group) run too.",
    )
    .argument('[token]', 'the token, or "-" to read it from stdin (default when stdin is not a terminal)')
    .option('-f, --file <path>', 'read the token from a file')
    .option('-a, --audience <audience...>', 'accepted audience(s) (env APISERVER_TOKEN_AUDIENCE)')
    .option('--issuer <issuer...>', 'accepted issuer(s) (env APISERVER_TOKEN_ISSUER)')
    .addOption(
      new Option('--mode <mode>', 'how to verify (env APISERVER_TOKEN_MODE; default jwks)').choices([
        'jwks',
        'tokenreview',
        'hybrid',
      ]),
    )
    .option(
      '--jwks-uri <url>',
      'fetch keys from this JWKS URL, without discovery (env APISERVER_TOKEN_JWKS_URI)',
    )
    .option('--jwks-file <path>', 'use the keys of this JWKS file, offline (env APISERVER_TOKEN_JWKS_FILE)')
    .option(
      '--discovery-url <url>',
      'OpenID discovery URL, when not the issuer (env APISERVER_TOKEN_DISCOVERY_URL)',
    )
    .option('--ca-file <path>', 'PEM CA bundle trusted for discovery and JWKS (env APISERVER_TOKEN_CA_FILE)')
    .option(
      '--kubeconfig <path>',
      'credentials for TokenReview in tokenreview/hybrid mode (env APISERVER_TOKEN_KUBECONFIG, then KUBECONFIG)',
    )
    .option(
      '--admission-review <path>',
      'an AdmissionReview (JSON or YAML) the token came with: runs the KEP-6060 checks',
    )
    .option(
      '--bound-to <kind/name>',
      'with --admission-review: the webhook configuration the token must be bound to',
    )
    .option(
      '--allow-legacy-tokens',
      'accept legacy Secret-based tokens (env APISERVER_TOKEN_ALLOW_LEGACY_TOKENS)',
    )
    .option(
      '--clock-tolerance <seconds>',
      'leeway on exp/nbf/iat (env APISERVER_TOKEN_CLOCK_TOLERANCE; default 60)',
    )
    .option(
      '--at <time>',
      'verify as of this instant (RFC 3339 or epoch seconds): "was it valid when the webhook got it?"',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Examples:
  $ apiserver-token verify "$TOKEN" --audience https://my-webhook.my-ns.svc:443/validate \\
      --issuer https://kubernetes.default.svc.cluster.local --jwks-file jwks.json
  $ kubectl exec -i deploy/my-webhook -- apiserver-token verify - < token.jwt
  $ apiserver-token verify --file token.jwt --mode tokenreview --kubeconfig ~/.kube/config --audience https://example.com/hook
  $ apiserver-token verify --file token.jwt --admission-review review.json --bound-to ValidatingWebhookConfiguration/my-webhook

Exit status: 0 accepted, 1 rejected (the code says why: expired, audience_mismatch, invalid_signature, …),
2 unavailable (keys or TokenReview unreachable: the webhook would answer 503), 64 usage or configuration error.`,
    )
    .action(async (argument: string | undefined, options: VerifyOptions) => {
      const token = await readToken(argument, options.file);
      const verifierConfig = verifierOptions(options, io);
      const body =
        options.admissionReview !== undefined ? readAdmissionReview(options.admissionReview) : undefined;
      const now = verifierConfig.now?.() ?? io.now();
      let verifier: ApiserverTokenVerifier | undefined;
      try {
        verifier = createVerifier(verifierConfig);
        const identity = await verifier.verifyToken(token, {
          headers: {},
          ...(body !== undefined ? { body } : {}),
        });
        if (options.output === 'json') {
          line(io.stdout, JSON.stringify({ verdict: 'accepted', identity }, null, 2));
        } else {
          line(io.stdout, io.style.bold(io.style.green('accepted')));
          const rows = identityRows(identity, now);
          const width = Math.max(...rows.map(([label]) => label.length));
          for (const [label, value] of rows)
            line(io.stdout, `${io.style.dim(label.padEnd(width))}  ${value}`);
        }
        setExit(ExitCode.ok);
      } catch (error) {
        if (!isApiserverTokenError(error)) throw error;
        const unavailable = error.status === 503;
        const verdict = unavailable ? 'unavailable' : 'rejected';
        if (options.output === 'json') {
          line(
            io.stdout,
            JSON.stringify(
              { verdict, error: { code: error.code, status: error.status, message: error.message } },
              null,
              2,
            ),
          );
        } else {
          const paint = unavailable ? io.style.yellow : io.style.red;
          line(io.stdout, `${io.style.bold(paint(verdict))}: ${error.code} (HTTP ${error.status})`);
          line(io.stdout, `reason: ${error.message}`);
          const cause = (error as Error & { cause?: unknown }).cause;
          if (cause instanceof Error && !error.message.includes(cause.message))
            line(io.stdout, `cause: ${cause.message}`);
        }
        setExit(unavailable ? ExitCode.unavailable : ExitCode.failure);
      } finally {
        await verifier?.close();
      }
    });
}
