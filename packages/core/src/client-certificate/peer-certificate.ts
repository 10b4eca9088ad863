import { createHash, X509Certificate } from 'node:crypto';
import { ForbiddenIdentityError, InvalidClientCertificateError } from '../errors.js';
import type { ClientCertificateInfo } from '../identity.js';
import type { ResolvedClientCertificate } from './options.js';

/** The parts of a `tls.TLSSocket` read here. */
interface TlsSocketLike {
  authorized?: boolean;
  authorizationError?: unknown;
  /** Node answers `null` once the socket is destroyed (the caller hung up). */
  getPeerCertificate(detailed: true): PeerCertificateLike | null;
}

/** Node's `DetailedPeerCertificate`, as far as it is read. */
interface PeerCertificateLike {
  raw?: Buffer;
  subject?: Record<string, string | string[] | undefined>;
  fingerprint256?: string;
  issuerCertificate?: PeerCertificateLike;
}

/** What one connection's certificate amounts to; cached per socket and certificate. */
export type CertificateOutcome =
  | { ok: true; info: ClientCertificateInfo; fingerprint: string }
  | { ok: false; error: InvalidClientCertificateError | ForbiddenIdentityError };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_USAGE = '2.5.29.37.0';
const MAX_CHAIN = 5;

function isTlsSocket(value: unknown): value is TlsSocketLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TlsSocketLike).getPeerCertificate === 'function'
  );
}

function withinValidity(cert: X509Certificate, nowMs: number): boolean {
  return Date.parse(cert.validFrom) <= nowMs && nowMs <= Date.parse(cert.validTo);
}

/** Walks leaf → presented intermediates until a certificate issued by one of `cas`. */
function chainsTo(
  leaf: X509Certificate,
  peer: PeerCertificateLike,
  cas: X509Certificate[],
  nowMs: number,
): string | undefined {
  let current = leaf;
  let next = peer.issuerCertificate;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    for (const ca of cas) {
      if (current.checkIssued(ca) && current.verify(ca.publicKey)) {
        return withinValidity(ca, nowMs) ? undefined : 'the trusted CA is outside its validity period';
      }
    }
    if (next?.raw === undefined || next.raw.equals(current.raw)) break;
    const intermediate = new X509Certificate(next.raw);
    if (!intermediate.ca || !withinValidity(intermediate, nowMs))
      return 'an intermediate is not a valid CA certificate';
    if (!current.checkIssued(intermediate) || !current.verify(intermediate.publicKey))
      return 'the presented chain does not verify';
    current = intermediate;
    next = next.issuerCertificate;
  }
  return 'not issued by a trusted CA';
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((item) => typeof item === 'string' && item !== '');
}

function evaluate(
  socket: TlsSocketLike,
  peer: PeerCertificateLike,
  settings: ResolvedClientCertificate,
  nowMs: number,
): CertificateOutcome {
  const invalid = (reason: string): CertificateOutcome => ({
    ok: false,
    error: new InvalidClientCertificateError(reason),
  });
  if (peer.raw === undefined || peer.raw.length === 0) return invalid('no client certificate was presented');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(peer.raw);
  } catch {
    return invalid('the client certificate cannot be parsed');
  }
  if (settings.cas === undefined) {
    if (socket.authorized !== true)
      return invalid(
        `the TLS server did not verify the client certificate (${String(socket.authorizationError ?? 'not authorized')})`,
      );
  } else {
    if (!withinValidity(leaf, nowMs)) return invalid('the client certificate is expired or not yet valid');
    let problem: string | undefined;
    try {
      problem = chainsTo(leaf, peer, settings.cas, nowMs);
    } catch {
      problem = 'the presented chain cannot be read';
    }
    if (problem !== undefined) return invalid(`client certificate: ${problem}`);
  }
  const usages = leaf.keyUsage as string[] | undefined;
  if (Array.isArray(usages) && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_USAGE))
    return invalid('the certificate is not for client authentication (extended key usage)');
  const commonName = single(peer.subject?.CN);
  if (commonName === undefined) return invalid('the client certificate has no single subject CN');
  const organizations = list(peer.subject?.O);
  if (settings.commonNames !== undefined && !settings.commonNames(commonName))
    return {
      ok: false,
      error: new ForbiddenIdentityError(`client certificate CN ${JSON.stringify(commonName)} is not allowed`),
    };
  if (settings.organizations !== undefined && !organizations.some((o) => settings.organizations?.(o)))
    return {
      ok: false,
      error: new ForbiddenIdentityError(
        `client certificate O ${JSON.stringify(organizations)} is not allowed`,
      ),
    };
  return {
    ok: true,
    fingerprint: createHash('sha256').update(peer.raw).digest('base64url').slice(0, 16),
    info: {
      commonName,
      organizations,
      fingerprint256: leaf.fingerprint256,
      validTo: new Date(Date.parse(leaf.validTo)),
    },
  };
}

/**
 * Checks the TLS peer's certificate of a request's socket. Outcomes are remembered per socket
 * and certificate (a renegotiation that changes the certificate is checked again), until the
 * certificate expires.
 */
export class PeerCertificateVerifier {
  readonly #settings: ResolvedClientCertificate;
  readonly #now: () => number;
  readonly #seen = new WeakMap<object, { raw: Buffer; outcome: CertificateOutcome; until: number }>();

  constructor(settings: ResolvedClientCertificate, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  get mode(): 'accept' | 'require' {
    return this.#settings.mode;
  }

  check(socket: unknown): CertificateOutcome {
    if (!isTlsSocket(socket))
      return { ok: false, error: new InvalidClientCertificateError('the request did not arrive over TLS') };
    const peer = socket.getPeerCertificate(true) ?? {};
    const now = this.#now();
    const seen = this.#seen.get(socket);
    if (seen !== undefined && peer.raw !== undefined && seen.raw.equals(peer.raw) && now < seen.until)
      return seen.outcome;
    const outcome = evaluate(socket, peer, this.#settings, now);
    if (peer.raw !== undefined) {
      const until = outcome.ok ? outcome.info.validTo.getTime() : now + 1000;
      this.#seen.set(socket, { raw: peer.raw, outcome, until });
    }
    return outcome;
  }
}
