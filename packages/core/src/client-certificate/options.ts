/**
 * Options of client-certificate authentication (`createVerifier({ clientCertificate })`).
 *
 * @packageDocumentation
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApiserverTokenConfigError } from '../errors.js';
import { ENV_PREFIX, envList, envString } from '../lib/env.js';
import { assertKnownKeys } from '../lib/known-keys.js';
import { compileAllowList, type Matcher } from '../policy/glob.js';

/**
 * Client certificates on a TLS server (`https.createServer({ requestCert: true, … })`): the
 * certificate kube-apiserver presents with `--proxy-client-cert-file` (aggregated APIs) or a
 * webhook kubeconfig's `client-certificate`. Read from the TLS socket (`socket.authorized`,
 * `getPeerCertificate()`), never from a header.
 *
 * The identity of a certificate is `username` = subject CN, `groups` = subject O values,
 * `verifiedBy: 'client-certificate'`, as Kubernetes derives it.
 */
export interface ClientCertificateOptions {
  /**
   * - `'accept'`: a verified certificate whose subject passes the allow-lists is enough, no token
   *   needed; without one (none presented, untrusted, subject not allowed) the bearer token is
   *   verified as usual.
   * - `'require'`: a verified, allowed certificate is required in addition to the token (401
   *   `invalid_client_certificate` without one, 403 `forbidden` for a subject not allowed); the
   *   identity is the token's, with `clientCertificate` set.
   *
   * Env: `APISERVER_TOKEN_CLIENT_CERTIFICATE`. Required.
   */
  mode: 'accept' | 'require';
  /**
   * CA certificate(s), PEM, that must have issued the client certificate (the apiserver's
   * `--requestheader-client-ca-file`): checked here, whatever else the TLS server trusts.
   * Default: none — then the TLS server's own verification is relied on (`socket.authorized`,
   * i.e. its `ca` option with `requestCert: true`).
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Path of a PEM CA bundle, read at construction. Env: `APISERVER_TOKEN_CLIENT_CA_FILE`. Default: none. */
  caFile?: string;
  /**
   * Allowed subject CNs (`*` globs allowed), e.g. `['front-proxy-client']`. Env:
   * `APISERVER_TOKEN_ALLOWED_COMMON_NAMES` (comma-separated). Default: any.
   */
  allowedCommonNames?: string[];
  /** The certificate must carry one of these subject O values (globs allowed). Env: `APISERVER_TOKEN_ALLOWED_ORGANIZATIONS`. Default: any. */
  allowedOrganizations?: string[];
}

export interface ResolvedClientCertificate {
  mode: 'accept' | 'require';
  /** Trusted CAs checked by us; undefined: rely on the TLS server's `socket.authorized`. */
  cas: X509Certificate[] | undefined;
  commonNames: Matcher | undefined;
  organizations: Matcher | undefined;
}

const fail = (field: string, problem: string): never => {
  throw new ApiserverTokenConfigError(field, problem);
};

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function certificates(value: unknown, field: string): X509Certificate[] {
  const items = Array.isArray(value) ? value : [value];
  const result: X509Certificate[] = [];
  for (const item of items) {
    if (typeof item !== 'string' && !Buffer.isBuffer(item))
      fail(field, 'must be PEM text, a Buffer, or an array of them');
    for (const pem of splitPem(item.toString())) {
      try {
        const cert = new X509Certificate(pem);
        if (!cert.ca) fail(field, `${cert.subject.replace(/\n/g, ', ')} is not a CA certificate`);
        result.push(cert);
      } catch (error) {
        if (error instanceof ApiserverTokenConfigError) throw error;
        fail(field, `holds an unreadable certificate: ${(error as Error).message}`);
      }
    }
  }
  if (result.length === 0) fail(field, 'holds no PEM certificate');
  return result;
}

function names(value: unknown, field: string): Matcher | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    !value.every((item) => typeof item === 'string' && item !== '' && !item.includes('**'))
  )
    return fail(field, 'must be an array of names (`*` globs allowed)');
  if (value.length === 0)
    return fail(
      field,
      'is an empty allow-list, which would refuse every certificate: remove it or list a name',
    );
  return compileAllowList(value as string[]);
}

const FIELDS = ['mode', 'ca', 'caFile', 'allowedCommonNames', 'allowedOrganizations'];

/** Validate `clientCertificate` (and `APISERVER_TOKEN_CLIENT_*`); undefined when off. */
export function resolveClientCertificateOptions(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedClientCertificate | undefined {
  const envMode = envString(env, 'CLIENT_CERTIFICATE');
  if (value === undefined && envMode === undefined) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value)))
    return fail(
      'clientCertificate',
      "must be { mode: 'accept' | 'require', ca?, caFile?, allowedCommonNames?, allowedOrganizations? }",
    );
  const o = (value ?? {}) as Record<string, unknown>;
  assertKnownKeys(o, FIELDS, 'clientCertificate');
  const mode = o.mode ?? envMode;
  if (mode !== 'accept' && mode !== 'require')
    fail(
      value === undefined ? `${ENV_PREFIX}CLIENT_CERTIFICATE` : 'clientCertificate.mode',
      `must be 'accept' or 'require', got ${JSON.stringify(mode)}`,
    );
  let cas: X509Certificate[] | undefined;
  if (o.ca !== undefined) cas = certificates(o.ca, 'clientCertificate.ca');
  const caFile = o.caFile ?? (o.ca === undefined ? envString(env, 'CLIENT_CA_FILE') : undefined);
  const caFileField = o.caFile === undefined ? `${ENV_PREFIX}CLIENT_CA_FILE` : 'clientCertificate.caFile';
  if (caFile !== undefined) {
    if (typeof caFile !== 'string' || caFile === '') fail(caFileField, 'must be a file path');
    let text = '';
    try {
      text = readFileSync(caFile as string, 'utf8');
    } catch (error) {
      fail(caFileField, `cannot read ${JSON.stringify(caFile)}: ${(error as Error).message}`);
    }
    cas = [...(cas ?? []), ...certificates(text, caFileField)];
  }
  return {
    mode: mode as 'accept' | 'require',
    cas,
    commonNames: names(
      o.allowedCommonNames ?? envList(env, 'ALLOWED_COMMON_NAMES'),
      o.allowedCommonNames === undefined && envList(env, 'ALLOWED_COMMON_NAMES')
        ? `${ENV_PREFIX}ALLOWED_COMMON_NAMES`
        : 'clientCertificate.allowedCommonNames',
    ),
    organizations: names(
      o.allowedOrganizations ?? envList(env, 'ALLOWED_ORGANIZATIONS'),
      o.allowedOrganizations === undefined && envList(env, 'ALLOWED_ORGANIZATIONS')
        ? `${ENV_PREFIX}ALLOWED_ORGANIZATIONS`
        : 'clientCertificate.allowedOrganizations',
    ),
  };
}
