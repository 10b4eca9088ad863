import type { Diagnostic } from '../diagnostics/diagnostics.js';
import type { FetchError } from './fetch-json.js';

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);

/**
 * What an operator must do about a key set that cannot be fetched: the cause as a stable
 * category and the fix in words. The message comes from a {@link FetchError}, which never holds
 * a credential or a response body.
 */
export function diagnoseKeyFetch(error: FetchError, source: string): Diagnostic {
  const base: Pick<Diagnostic, 'code' | 'scope' | 'level'> = {
    code: 'APISERVER_TOKEN_KEYS_UNAVAILABLE',
    scope: source,
    level: 'error',
  };
  const message = `cannot fetch the keys of ${source}: ${error.message}`;
  const code = error.errorCode;
  if (code === 'ISSUER_MISMATCH') {
    return {
      ...base,
      code: 'APISERVER_TOKEN_ISSUER_MISMATCH',
      cause: 'issuer-mismatch',
      message,
      fix:
        "set `issuer` (or APISERVER_TOKEN_ISSUER) to the issuer the discovery document names — kube-apiserver's " +
        '--service-account-issuer — or point `jwks.discovery` at the apiserver of the configured issuer',
    };
  }
  if (code !== undefined && UNTRUSTED.has(code)) {
    return {
      ...base,
      cause: 'untrusted-certificate',
      message,
      fix:
        "the issuer's TLS certificate is not signed by a trusted CA: set `jwks.ca` (PEM) or `jwks.caFile` / " +
        'APISERVER_TOKEN_CA_FILE to the CA that signed it (the cluster CA: ca.crt of a service-account token volume)',
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      ...base,
      cause: 'bad-certificate',
      message,
      fix: "the issuer's TLS certificate is expired or names another host: use the URL its certificate is issued for (jwks.discovery / jwks.uri)",
    };
  }
  if (error.status === 401) {
    return {
      ...base,
      cause: 'unauthorized',
      message,
      fix:
        'the issuer wants a credential: set `jwks.credentialFile` / APISERVER_TOKEN_CREDENTIAL_FILE to a token file ' +
        '(in a pod, its service-account token); kube-apiserver lets it read discovery through the ClusterRole system:service-account-issuer-discovery',
    };
  }
  if (error.status === 403) {
    return {
      ...base,
      cause: 'forbidden',
      message,
      fix:
        'the credential may not read the discovery documents: bind the ClusterRole system:service-account-issuer-discovery ' +
        'to it (kubectl create clusterrolebinding <name> --clusterrole=system:service-account-issuer-discovery --serviceaccount=<namespace>:<name>)',
    };
  }
  if (error.status === 404) {
    return {
      ...base,
      cause: 'not-found',
      message,
      fix: 'check `jwks.discovery` / `jwks.uri` (kube-apiserver serves /.well-known/openid-configuration and /openid/v1/jwks)',
    };
  }
  if (code !== undefined && UNREACHABLE.has(code)) {
    return {
      ...base,
      cause: 'unreachable',
      message,
      fix: 'check the URL, DNS and the NetworkPolicy/egress rules between this pod and the issuer',
    };
  }
  if (/holds no usable key|not a JWKS document/.test(error.message)) {
    return {
      ...base,
      cause: 'no-usable-key',
      message,
      fix: 'the document holds no RSA (2048 bits or more) or EC P-256/384/521 signature key: check that the URL is the issuer JWKS',
    };
  }
  return {
    ...base,
    cause: error.status === undefined ? 'fetch-failed' : `http-${error.status}`,
    message,
    fix: 'check that the issuer is up and that the URL is its discovery document or JWKS',
  };
}
