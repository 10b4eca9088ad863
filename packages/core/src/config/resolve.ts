import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { type ResolvedAdmission, resolveAdmissionOptions } from '../admission/options.js';
import {
  type ResolvedClientCertificate,
  resolveClientCertificateOptions,
} from '../client-certificate/options.js';
import { ApiserverTokenConfigError } from '../errors.js';
import type { FetchSettings } from '../jwks/fetch-json.js';
import { type ImportedKey, importKeySet, type SkippedKey } from '../jwks/import-jwk.js';
import type { KeySetTiming } from '../jwks/key-set.js';
import { DEFAULT_ALGORITHMS, isSupportedAlgorithm } from '../jwt/algorithms.js';
import { LEGACY_ISSUER } from '../jwt/precheck.js';
import { ENV_PREFIX, envBoolean, envList, envNumber, envString } from '../lib/env.js';
import { assertKnownKeys } from '../lib/known-keys.js';
import { type Logger, safeLogger } from '../logger.js';
import { resolveMetrics } from '../metrics/resolve.js';
import type { MetricsTarget } from '../metrics/target.js';
import type { JwksOptions, JwsAlgorithm, VerifierMode, VerifierOptions } from '../options.js';
import { type ResolvedPolicy, resolvePolicyOptions } from '../policy/options.js';
import { assertClientNodeInstalled } from '../tokenreview/client-node.js';
import {
  type InClusterLocations,
  type KubeconfigSource,
  validateKubeconfigSource,
} from '../tokenreview/kubeconfig.js';
import { resolveTokenReviewOptions, type TokenReviewSettings } from '../tokenreview/options.js';
import { detectInCluster, IN_CLUSTER_DEFAULTS } from './in-cluster.js';
import { assertKnownEnv, VERIFIER_HINTS, VERIFIER_OPTIONS } from './known-options.js';

/** Where one key set comes from, after validation. */
export type ResolvedKeySource =
  | { kind: 'static'; keys: ImportedKey[]; label: string; skipped: SkippedKey[] }
  | {
      kind: 'remote';
      discovery: URL | undefined;
      jwksUri: URL | undefined;
      fetch: FetchSettings;
      timing: KeySetTiming;
      allowCrossOriginJwksUri: boolean;
    };

/** One key set and the issuers it serves; `issuers` undefined: learned by discovery (in-cluster). */
export interface ResolvedKeySet {
  issuers: string[] | undefined;
  source: ResolvedKeySource;
}

/** Options after validation, environment and defaults. */
export interface ResolvedConfig {
  mode: VerifierMode;
  audiences: string[];
  keySets: ResolvedKeySet[];
  cache: { max: number; ttlMs: number; failureTtlMs: number };
  clockTolerance: number;
  algorithms: Set<JwsAlgorithm>;
  maxTokenBytes: number;
  /** `maxVerificationsPerSecond` and `verificationBurst`; undefined: no bound (the default). */
  verificationBudget: { rate: number; burst: number } | undefined;
  allowLegacyTokens: boolean;
  /** Issuers whose keys may verify legacy tokens; undefined: the one configured (or learned). */
  legacyIssuers: string[] | undefined;
  /** False in observe mode (`enforce: false`): the adapters let rejected requests go on. */
  enforce: boolean;
  logger: Logger | undefined;
  /** Where operator diagnostics go: `diagnosticsLogger`, else `logger`; undefined for process warnings. */
  diagnosticsLogger: Logger | undefined;
  now: () => number;
  kubeconfig: KubeconfigSource;
  inCluster: boolean;
  /** tokenreview/hybrid: the TokenReview client settings and cache TTLs. */
  tokenReview: TokenReviewSettings;
  /** Where metrics go; undefined when off. */
  metrics: MetricsTarget | undefined;
  /** tokenreview: issuers the pre-check requires (empty: any issuer, structure/audience/expiry only). */
  reviewIssuers: string[];
  /** tokenreview/hybrid: where `'in-cluster'` credentials are read, or false. */
  inClusterLocations: InClusterLocations | false;
  env: Readonly<Record<string, string | undefined>>;
  /** The authorization policy, when one is configured. */
  policy: ResolvedPolicy | undefined;
  /** Admission mode (KEP-6060), when on. */
  admission: ResolvedAdmission | undefined;
  /** Client-certificate authentication, when on. */
  clientCertificate: ResolvedClientCertificate | undefined;
}

const fail = (field: string, problem: string): never => {
  throw new ApiserverTokenConfigError(field, problem);
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item.trim() !== '')) {
    return fail(field, 'must be a non-empty string or an array of non-empty strings');
  }
  return list as string[];
}

/**
 * A numeric option. The message names what is wanted in words — "a non-negative number of
 * seconds", "from 64 to 1048576 bytes", never "between 0 and Infinity" — and the variable that
 * also sets it, since the value may have come from there.
 */
function number(
  value: unknown,
  field: string,
  fallback: number,
  {
    min = 0,
    integer = false,
    max = Number.POSITIVE_INFINITY,
    unit = 'seconds',
    variable,
  }: { min?: number; integer?: boolean; max?: number; unit?: string; variable?: string } = {},
): number {
  if (value === undefined) return fallback;
  const also = variable === undefined ? '' : ` (option \`${field}\` or ${ENV_PREFIX}${variable})`;
  const kind = integer ? 'a whole number' : 'a number';
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const wanted =
      max === Number.POSITIVE_INFINITY
        ? min === 0
          ? `must be ${integer ? 'a non-negative whole number' : 'a non-negative number'} of ${unit}`
          : `must be ${kind} of ${unit}, at least ${min}`
        : `must be ${kind} of ${unit} from ${min} to ${max}`;
    return fail(field, `${wanted}${also}, got ${JSON.stringify(value)}`);
  }
  if (integer && !Number.isInteger(value))
    return fail(field, `must be a whole number of ${unit}${also}, got ${value}`);
  return value;
}

function boolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') return fail(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function readableFile(path: unknown, field: string): string | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== 'string' || path === '') return fail(field, 'must be a file path');
  try {
    accessSync(path, constants.R_OK);
  } catch {
    return fail(field, `cannot read ${JSON.stringify(path)}`);
  }
  return path;
}

function url(value: unknown, field: string, allowHttp: boolean): URL | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !URL.canParse(value))
    return fail(field, `must be an absolute URL, got ${JSON.stringify(value)}`);
  const parsed = new URL(value);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && allowHttp)) {
    return fail(
      field,
      `must be an https: URL (http: only with jwks.allowInsecureHttp), got ${JSON.stringify(value)}`,
    );
  }
  if (parsed.username !== '' || parsed.password !== '') return fail(field, 'must not carry credentials');
  return parsed;
}

/** `<base>/.well-known/openid-configuration` unless the URL already names the document. */
function discoveryUrl(base: URL): URL {
  if (base.pathname.endsWith('/.well-known/openid-configuration')) return base;
  const document = new URL(base.href);
  document.pathname = `${base.pathname.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  return document;
}

const JWKS_FIELDS: readonly string[] = [
  'discovery',
  'uri',
  'keys',
  'ca',
  'caFile',
  'credentialFile',
  'timeout',
  'maxBytes',
  'cooldown',
  'maxStale',
  'defaultMaxAge',
  'minMaxAge',
  'maxMaxAge',
  'allowCrossOriginJwksUri',
  'allowInsecureHttp',
];

function staticKeys(keys: unknown, field: string): ResolvedKeySource {
  let document: unknown = keys;
  let label = 'static JWKS';
  if (typeof keys === 'string') {
    label = `JWKS file ${keys}`;
    try {
      document = JSON.parse(readFileSync(keys, 'utf8'));
    } catch (error) {
      return fail(
        field,
        `cannot read a JSON key set from ${JSON.stringify(keys)}: ${(error as Error).message}`,
      );
    }
  }
  let imported: ReturnType<typeof importKeySet>;
  try {
    imported = importKeySet(document);
  } catch (error) {
    return fail(field, (error as Error).message);
  }
  if (imported.keys.length === 0) {
    const reasons = imported.skipped.map((entry) => `${entry.code}: ${entry.message}`).join('; ');
    return fail(field, `holds no usable verification key (${reasons || 'empty'})`);
  }
  return { kind: 'static', keys: imported.keys, label, skipped: imported.skipped };
}

/** One key source from merged jwks options; `fallbackDiscovery` is used when none is set. */
function keySource(jwks: JwksOptions, field: string, fallbackDiscovery: URL | undefined): ResolvedKeySource {
  assertKnownKeys(jwks, JWKS_FIELDS, field);
  const allowInsecureHttp = boolean(jwks.allowInsecureHttp, `${field}.allowInsecureHttp`, false);
  if (jwks.keys !== undefined) {
    if (typeof jwks.keys !== 'string' && !isRecord(jwks.keys))
      return fail(`${field}.keys`, 'must be a JWKS object or a file path');
    return staticKeys(jwks.keys, `${field}.keys`);
  }
  const jwksUri = url(jwks.uri, `${field}.uri`, allowInsecureHttp);
  const discoveryBase = url(jwks.discovery, `${field}.discovery`, allowInsecureHttp);
  const discovery =
    discoveryBase === undefined
      ? jwksUri === undefined
        ? fallbackDiscovery
        : undefined
      : discoveryUrl(discoveryBase);
  if (jwksUri === undefined && discovery === undefined) {
    return fail(
      field,
      'needs a key source: `keys`, `uri` or `discovery` (or an https issuer URL to discover from)',
    );
  }
  let ca: Array<string | Buffer> | undefined;
  if (jwks.ca !== undefined) {
    const list = Array.isArray(jwks.ca) ? jwks.ca : [jwks.ca];
    if (!list.every((item) => typeof item === 'string' || Buffer.isBuffer(item)) || list.length === 0) {
      return fail(`${field}.ca`, 'must be PEM text, a Buffer, or an array of them');
    }
    ca = list;
  }
  const minMaxAge = number(jwks.minMaxAge, `${field}.minMaxAge`, 30);
  const maxMaxAge = number(jwks.maxMaxAge, `${field}.maxMaxAge`, 86_400);
  if (minMaxAge > maxMaxAge) fail(`${field}.minMaxAge`, `must not exceed maxMaxAge (${maxMaxAge})`);
  return {
    kind: 'remote',
    discovery,
    jwksUri,
    allowCrossOriginJwksUri: boolean(jwks.allowCrossOriginJwksUri, `${field}.allowCrossOriginJwksUri`, false),
    fetch: {
      timeout: number(jwks.timeout, `${field}.timeout`, 5000, {
        min: 1,
        max: 120_000,
        unit: 'milliseconds',
      }),
      maxBytes: number(jwks.maxBytes, `${field}.maxBytes`, 1_048_576, {
        unit: 'bytes',
        min: 1,
        integer: true,
        max: 64 * 1_048_576,
      }),
      ca,
      caFile: readableFile(jwks.caFile, `${field}.caFile`),
      credentialFile: readableFile(jwks.credentialFile, `${field}.credentialFile`),
      allowInsecureHttp,
    },
    timing: {
      cooldown: number(jwks.cooldown, `${field}.cooldown`, 15),
      maxStale: number(jwks.maxStale, `${field}.maxStale`, 3600),
      defaultMaxAge: number(jwks.defaultMaxAge, `${field}.defaultMaxAge`, 300),
      minMaxAge,
      maxMaxAge,
    },
  };
}

/**
 * Options that only the TokenReview modes read fail in `jwks` mode instead of being silently ignored.
 */
function assertModeOptions(
  mode: VerifierMode,
  options: VerifierOptions,
  env: Readonly<Record<string, string | undefined>>,
): void {
  if (mode === 'jwks') {
    const fromEnv = Object.keys(env).find(
      (name) => name.startsWith(`${ENV_PREFIX}TOKENREVIEW_`) && envString(env, name.slice(ENV_PREFIX.length)),
    );
    const field = options.tokenReview !== undefined ? 'tokenReview' : fromEnv;
    if (field !== undefined) {
      fail(
        field,
        "only applies to mode 'tokenreview' or 'hybrid', and mode is 'jwks': set `mode` (or APISERVER_TOKEN_MODE), or remove it",
      );
    }
  }
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}

/** Validate the options, fill them from `APISERVER_TOKEN_*` and apply the defaults. */
export function resolveConfig(options: VerifierOptions): ResolvedConfig {
  if (!isRecord(options as unknown)) fail('options', 'must be an object');
  assertKnownKeys(options, VERIFIER_OPTIONS, '', VERIFIER_HINTS);
  const env = options.env ?? process.env;
  if (!isRecord(env as unknown)) fail('env', 'must be an object of strings');
  assertKnownEnv(env);

  const audiences = stringList(options.audience, 'audience') ?? envList(env, 'AUDIENCE') ?? [];
  if (audiences.length === 0) {
    fail(
      'audience',
      `is required: set the \`audience\` option or the ${ENV_PREFIX}AUDIENCE environment variable (comma-separated) ` +
        'to the URL the apiserver calls your webhook with, e.g. https://my-webhook.my-ns.svc:443/validate',
    );
  }

  const mode = (options.mode ?? envString(env, 'MODE') ?? 'jwks') as VerifierMode;
  if (mode !== 'jwks' && mode !== 'tokenreview' && mode !== 'hybrid') {
    fail(
      options.mode === undefined ? `${ENV_PREFIX}MODE` : 'mode',
      `must be 'jwks', 'tokenreview' or 'hybrid', got ${JSON.stringify(mode)}`,
    );
  }

  assertModeOptions(mode, options, env);

  const algorithmsOption = options.algorithms ?? (envList(env, 'ALGORITHMS') as JwsAlgorithm[] | undefined);
  const algorithmsField = options.algorithms === undefined ? `${ENV_PREFIX}ALGORITHMS` : 'algorithms';
  if (algorithmsOption !== undefined && (!Array.isArray(algorithmsOption) || algorithmsOption.length === 0)) {
    fail(algorithmsField, 'must be a non-empty array');
  }
  for (const alg of (algorithmsOption ?? []) as unknown[]) {
    if (!isSupportedAlgorithm(alg)) {
      const never = typeof alg === 'string' && (alg.toLowerCase() === 'none' || /^HS/i.test(alg));
      fail(
        algorithmsField,
        never ? `${JSON.stringify(alg)} is never accepted` : `${JSON.stringify(alg)} is not supported`,
      );
    }
  }
  const algorithms = new Set<JwsAlgorithm>(algorithmsOption ?? DEFAULT_ALGORITHMS);

  const clockTolerance = number(
    options.clockTolerance ?? envNumber(env, 'CLOCK_TOLERANCE'),
    'clockTolerance',
    60,
    { max: 3600, variable: 'CLOCK_TOLERANCE' },
  );
  const maxTokenBytes = number(
    options.maxTokenBytes ?? envNumber(env, 'MAX_TOKEN_BYTES'),
    'maxTokenBytes',
    16_384,
    {
      unit: 'bytes',
      variable: 'MAX_TOKEN_BYTES',
      min: 64,
      integer: true,
      max: 1_048_576,
    },
  );
  const verificationBudget = verificationBudgetOption(options, env, mode);
  const legacyOption = legacyTokensOption(options.allowLegacyTokens, env);

  const enforce = boolean(options.enforce ?? envBoolean(env, 'ENFORCE'), 'enforce', true);

  if (options.cache !== undefined && !isRecord(options.cache)) fail('cache', 'must be an object');
  assertKnownKeys(options.cache ?? {}, ['max', 'ttl', 'failureTtl'], 'cache');
  const cache = {
    max: number(options.cache?.max ?? envNumber(env, 'CACHE_MAX'), 'cache.max', 10_000, {
      unit: 'entries',
      variable: 'CACHE_MAX',
      integer: true,
      max: 10_000_000,
    }),
    ttlMs:
      number(options.cache?.ttl ?? envNumber(env, 'CACHE_TTL'), 'cache.ttl', 300, { variable: 'CACHE_TTL' }) *
      1000,
    failureTtlMs: number(options.cache?.failureTtl, 'cache.failureTtl', 0) * 1000,
  };

  const logger = options.logger;
  const diagnosticsLogger = options.diagnosticsLogger;
  for (const [field, given] of [
    ['logger', logger],
    ['diagnosticsLogger', diagnosticsLogger],
  ] as const) {
    if (given === undefined) continue;
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      if (typeof (given as unknown as Record<string, unknown>)?.[level] !== 'function') {
        fail(field, `must have debug/info/warn/error methods (pino-compatible); \`${level}\` is missing`);
      }
    }
  }
  if (options.now !== undefined && typeof options.now !== 'function')
    fail('now', 'must be a function returning milliseconds');
  const kubeconfig = validateKubeconfigSource(
    options.kubeconfig ?? envString(env, 'KUBECONFIG'),
    options.kubeconfig === undefined && envString(env, 'KUBECONFIG') !== undefined
      ? `${ENV_PREFIX}KUBECONFIG`
      : 'kubeconfig',
  );
  const tokenReview = resolveTokenReviewOptions(options.tokenReview, env);
  if (mode !== 'jwks') assertClientNodeInstalled('mode');
  const inClusterOption = options.inCluster;
  if (inClusterOption !== undefined && inClusterOption !== false && !isRecord(inClusterOption as unknown)) {
    fail('inCluster', 'must be { tokenPath?, caPath?, url? } or false');
  }
  if (isRecord(inClusterOption))
    assertKnownKeys(inClusterOption, ['tokenPath', 'caPath', 'url'], 'inCluster');
  const inClusterLocations: InClusterLocations | false =
    inClusterOption === false
      ? false
      : {
          tokenPath: inClusterOption?.tokenPath ?? IN_CLUSTER_DEFAULTS.tokenPath,
          caPath: inClusterOption?.caPath ?? IN_CLUSTER_DEFAULTS.caPath,
          ...(inClusterOption?.url !== undefined && { url: inClusterOption.url }),
        };
  const reviewIssuers =
    mode === 'tokenreview' ? (stringList(options.issuer, 'issuer') ?? envList(env, 'ISSUER') ?? []) : [];

  const policy = resolvePolicyOptions(options.policy, env);
  if (policy?.subjectAccessReview !== undefined) {
    assertClientNodeInstalled('policy.subjectAccessReview');
    // No silent fallback to ~/.kube/config or localhost for an authorization decision.
    const inPod =
      inClusterLocations !== false &&
      !!env.KUBERNETES_SERVICE_HOST &&
      existsSync(inClusterLocations.tokenPath);
    if (kubeconfig === undefined && !env.KUBECONFIG && !inPod) {
      fail(
        'policy.subjectAccessReview',
        `needs apiserver credentials: set \`kubeconfig\` (or ${ENV_PREFIX}KUBECONFIG) to a kubeconfig path or 'in-cluster'`,
      );
    }
  }
  const admission = resolveAdmissionOptions(options.admission, env);
  const clientCertificate = resolveClientCertificateOptions(options.clientCertificate, env);

  const keySets = mode === 'tokenreview' ? [] : resolveKeySets(options, env);
  // Last: every other option is valid before instruments are registered anywhere.
  const metrics = resolveMetrics(options.metrics);
  const inCluster = keySets.some((set) => set.issuers === undefined);
  const { allowLegacyTokens, legacyIssuers } = resolveLegacyTokens(legacyOption, mode, keySets);
  return {
    mode,
    audiences: [...new Set(audiences)],
    keySets,
    cache,
    clockTolerance,
    algorithms,
    maxTokenBytes,
    verificationBudget,
    allowLegacyTokens,
    legacyIssuers,
    enforce,
    logger: safeLogger(logger),
    diagnosticsLogger: safeLogger(diagnosticsLogger ?? logger),
    now: options.now ?? Date.now,
    kubeconfig,
    inCluster,
    tokenReview,
    reviewIssuers,
    inClusterLocations,
    env,
    policy,
    admission,
    clientCertificate,
    metrics,
  };
}

/**
 * `maxVerificationsPerSecond` and `verificationBurst`. Refused in `tokenreview` mode rather than
 * ignored: there it would bound nothing, and an operator who set it believes otherwise.
 */
function verificationBudgetOption(
  options: VerifierOptions,
  env: Readonly<Record<string, string | undefined>>,
  mode: VerifierMode,
): { rate: number; burst: number } | undefined {
  const rateField =
    options.maxVerificationsPerSecond === undefined &&
    envString(env, 'MAX_VERIFICATIONS_PER_SECOND') !== undefined
      ? `${ENV_PREFIX}MAX_VERIFICATIONS_PER_SECOND`
      : 'maxVerificationsPerSecond';
  const burstField =
    options.verificationBurst === undefined && envString(env, 'VERIFICATION_BURST') !== undefined
      ? `${ENV_PREFIX}VERIFICATION_BURST`
      : 'verificationBurst';
  const rate = number(
    options.maxVerificationsPerSecond ?? envNumber(env, 'MAX_VERIFICATIONS_PER_SECOND'),
    'maxVerificationsPerSecond',
    0,
    { unit: 'verifications per second (0 for no bound)', variable: 'MAX_VERIFICATIONS_PER_SECOND' },
  );
  const burstValue = options.verificationBurst ?? envNumber(env, 'VERIFICATION_BURST');
  const burst = number(burstValue, 'verificationBurst', Math.max(1, Math.ceil(rate)), {
    unit: 'verifications',
    min: 1,
    integer: true,
    variable: 'VERIFICATION_BURST',
  });
  if (mode === 'tokenreview' && (rate > 0 || burstValue !== undefined)) {
    fail(
      rate > 0 ? rateField : burstField,
      "bounds signature verifications, which mode 'tokenreview' does not run (the apiserver verifies): " +
        `bound TokenReviews with \`tokenReview.maxInFlight\` (${ENV_PREFIX}TOKENREVIEW_MAX_IN_FLIGHT) instead, ` +
        "or set mode 'jwks' or 'hybrid'",
    );
  }
  if (rate === 0) {
    if (burstValue !== undefined)
      fail(
        burstField,
        `has no effect without maxVerificationsPerSecond: set that too (or ${ENV_PREFIX}MAX_VERIFICATIONS_PER_SECOND), or remove it`,
      );
    return undefined;
  }
  return { rate, burst };
}

type LegacyOption = { value: boolean | string[]; field: string };

/** `allowLegacyTokens` as given: a boolean or issuer names (env: true/false or a comma-separated list). */
function legacyTokensOption(value: unknown, env: Readonly<Record<string, string | undefined>>): LegacyOption {
  if (value === undefined) {
    const field = `${ENV_PREFIX}ALLOW_LEGACY_TOKENS`;
    const text = envString(env, 'ALLOW_LEGACY_TOKENS');
    if (text === undefined) return { value: false, field };
    if (/^(true|false|1|0|yes|no)$/i.test(text))
      return { value: envBoolean(env, 'ALLOW_LEGACY_TOKENS') as boolean, field };
    return { value: envList(env, 'ALLOW_LEGACY_TOKENS') ?? [], field };
  }
  if (typeof value === 'boolean') return { value, field: 'allowLegacyTokens' };
  const list = stringList(value, 'allowLegacyTokens');
  if (list === undefined || list.length === 0)
    return fail('allowLegacyTokens', 'must be true, false, or a non-empty array of configured issuers');
  return { value: list, field: 'allowLegacyTokens' };
}

/**
 * Which configured issuers' keys may verify a legacy token. A legacy token's `iss` is
 * `kubernetes/serviceaccount` in every cluster: with several issuers, `true` would let one
 * cluster's account pass for another's of the same name, so the issuers must be named.
 */
function resolveLegacyTokens(
  option: LegacyOption,
  mode: VerifierMode,
  keySets: ResolvedKeySet[],
): { allowLegacyTokens: boolean; legacyIssuers: string[] | undefined } {
  const { value, field } = option;
  if (value === false) return { allowLegacyTokens: false, legacyIssuers: undefined };
  if (mode === 'tokenreview') {
    if (value !== true)
      fail(
        field,
        'names issuers, which only the jwks and hybrid modes use: set it to true in tokenreview mode',
      );
    return { allowLegacyTokens: true, legacyIssuers: undefined };
  }
  const configured = keySets.flatMap((set) => set.issuers ?? []);
  if (value === true) {
    if (configured.length > 1) {
      fail(
        field,
        `is true with ${configured.length} issuers: a legacy token does not say which cluster signed it, ` +
          `so name the issuers whose keys may verify one, e.g. allowLegacyTokens: [${JSON.stringify(configured[0])}]`,
      );
    }
    return { allowLegacyTokens: true, legacyIssuers: undefined };
  }
  const learned = keySets.some((set) => set.issuers === undefined);
  for (const issuer of value) {
    if (!configured.includes(issuer) && !learned) {
      fail(
        field,
        `must be true or false, or name configured issuers: ${JSON.stringify(issuer)} is not one of ${JSON.stringify(configured)}`,
      );
    }
  }
  return { allowLegacyTokens: true, legacyIssuers: [...new Set(value)] };
}

function resolveKeySets(
  options: VerifierOptions,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedKeySet[] {
  if (options.jwks !== undefined && !isRecord(options.jwks)) fail('jwks', 'must be an object');
  const explicitSource =
    options.jwks?.keys !== undefined ||
    options.jwks?.uri !== undefined ||
    options.jwks?.discovery !== undefined;
  const envSource = explicitSource
    ? {}
    : defined({
        keys: envString(env, 'JWKS_FILE'),
        uri: envString(env, 'JWKS_URI'),
        discovery: envString(env, 'DISCOVERY_URL'),
      });
  const envFetch = defined({
    caFile: envString(env, 'CA_FILE'),
    credentialFile: envString(env, 'CREDENTIAL_FILE'),
    timeout: envNumber(env, 'JWKS_TIMEOUT'),
    cooldown: envNumber(env, 'JWKS_COOLDOWN'),
    maxStale: envNumber(env, 'JWKS_MAX_STALE'),
  });
  const shared: JwksOptions = { ...envFetch, ...envSource, ...defined(options.jwks ?? {}) };
  const hasSource = shared.keys !== undefined || shared.uri !== undefined || shared.discovery !== undefined;

  const issuerField = options.issuer === undefined ? `${ENV_PREFIX}ISSUER` : 'issuer';
  const issuers = stringList(options.issuer, 'issuer') ?? envList(env, 'ISSUER') ?? [];
  for (const issuer of issuers) {
    if (issuer === LEGACY_ISSUER)
      fail(issuerField, `${LEGACY_ISSUER} is the legacy token issuer: use allowLegacyTokens instead`);
  }
  if (options.issuers !== undefined && !Array.isArray(options.issuers))
    fail('issuers', 'must be an array of { issuer, jwks }');
  const result: ResolvedKeySet[] = [];

  if (issuers.length > 0 || hasSource) {
    const inCluster = hasSource ? undefined : detectInCluster(options.inCluster, env);
    if (inCluster !== undefined) {
      // In a pod with no key source: ask the local apiserver, whose jwks_uri often names an address
      // the pod cannot use; its keys are always served at /openid/v1/jwks on the in-cluster URL.
      const base = new URL(inCluster.url);
      const source = keySource(
        {
          caFile: inCluster.caPath,
          credentialFile: inCluster.tokenPath,
          ...shared,
          discovery: base.href,
          uri: new URL('/openid/v1/jwks', base).href,
        },
        'jwks',
        undefined,
      );
      result.push({ issuers, source });
    } else if (issuers.length === 0) {
      fail(
        'issuer',
        `is required with jwks: set the \`issuer\` option or ${ENV_PREFIX}ISSUER to the exact \`iss\` of the tokens`,
      );
    } else if (hasSource) {
      result.push({ issuers, source: keySource(shared, 'jwks', undefined) });
    } else {
      // Standard OIDC: each issuer's discovery document at its own URL.
      for (const issuer of issuers) {
        const base = URL.canParse(issuer) ? new URL(issuer) : undefined;
        if (base === undefined || (base.protocol !== 'https:' && !shared.allowInsecureHttp)) {
          fail(
            issuerField,
            `${JSON.stringify(issuer)} is not an https URL to discover keys from: set jwks.keys, jwks.uri or jwks.discovery`,
          );
        }
        result.push({ issuers: [issuer], source: keySource(shared, 'jwks', discoveryUrl(base as URL)) });
      }
    }
  }

  for (const [index, entry] of (options.issuers ?? []).entries()) {
    const field = `issuers[${index}]`;
    if (!isRecord(entry as unknown)) fail(field, 'must be { issuer, jwks }');
    assertKnownKeys(entry, ['issuer', 'jwks'], field);
    const issuer = entry.issuer;
    if (typeof issuer !== 'string' || issuer.trim() === '')
      fail(`${field}.issuer`, 'must be a non-empty string');
    if (issuer === LEGACY_ISSUER)
      fail(`${field}.issuer`, `${LEGACY_ISSUER} is the legacy token issuer: use allowLegacyTokens instead`);
    if (entry.jwks !== undefined && !isRecord(entry.jwks)) fail(`${field}.jwks`, 'must be an object');
    const own = defined(entry.jwks ?? {});
    const ownSource = own.keys !== undefined || own.uri !== undefined || own.discovery !== undefined;
    // Fetch settings fall back to the top-level ones; the key source never does, nor the
    // credential: one cluster's token must never be sent to another cluster's issuer.
    const { keys: _k, uri: _u, discovery: _d, credentialFile: _c, ...fetchDefaults } = shared;
    const merged: JwksOptions = { ...fetchDefaults, ...own };
    let fallback: URL | undefined;
    if (!ownSource) {
      const base = URL.canParse(issuer) ? new URL(issuer) : undefined;
      if (base === undefined || (base.protocol !== 'https:' && !merged.allowInsecureHttp)) {
        fail(
          `${field}.jwks`,
          `needs keys, uri or discovery: ${JSON.stringify(issuer)} is not an https URL to discover from`,
        );
      }
      fallback = discoveryUrl(base as URL);
    }
    result.push({ issuers: [issuer], source: keySource(merged, `${field}.jwks`, fallback) });
  }

  if (result.length === 0) {
    const inCluster = detectInCluster(options.inCluster, env);
    if (inCluster === undefined) {
      fail(
        'issuer',
        `is required in jwks mode outside a pod: set \`issuer\` (or ${ENV_PREFIX}ISSUER) and where its keys come from ` +
          `(\`jwks.keys\`, \`jwks.uri\`, or discovery on the issuer URL), or \`issuers\` for several clusters`,
      );
    }
    const live = inCluster as NonNullable<typeof inCluster>;
    const base = new URL(live.url);
    const source = keySource(
      {
        caFile: live.caPath,
        credentialFile: live.tokenPath,
        ...shared,
        discovery: base.href,
        uri: new URL('/openid/v1/jwks', base).href,
      },
      'jwks',
      undefined,
    );
    result.push({ issuers: undefined, source });
  }
  const seen = new Set<string>();
  for (const set of result) {
    for (const issuer of set.issuers ?? []) {
      if (seen.has(issuer)) fail('issuers', `issuer ${JSON.stringify(issuer)} is configured twice`);
      seen.add(issuer);
    }
  }
  return result;
}
