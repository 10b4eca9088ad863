import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TokenAuthenticator } from './token-authenticator.js';
import { ANONYMOUS, type UserInfo, withAuthenticatedGroup } from './users.js';

/** Who a request comes from, or that it must be refused with 401. */
export type Caller = { user: UserInfo; anonymous: boolean } | undefined;

/** The bearer token as kube-apiserver's `bearertoken` authenticator extracts it; undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  const auth = (header ?? '').trim();
  if (auth === '') return undefined;
  const parts = auth.split(' ');
  if (parts.length < 2 || parts[0]?.toLowerCase() !== 'bearer') return undefined;
  return parts[1] === '' ? undefined : parts[1];
}

/**
 * Authenticates the caller of one of the kit's endpoints like kube-apiserver: a client
 * certificate signed by the client CA (CN = user, O = groups), else a bearer token valid for the
 * apiserver's own audiences, else anonymous. Credentials presented but rejected mean 401.
 */
export function authenticateRequest(
  req: IncomingMessage,
  authenticator: TokenAuthenticator,
  anonymousAuth: boolean,
): Caller {
  const socket = req.socket as TLSSocket;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  const hasCertificate = peer !== undefined && peer !== null && Object.keys(peer).length > 0;
  if (hasCertificate && socket.authorized) {
    const subject = peer.subject as unknown as Record<string, string | string[] | undefined>;
    const cn = subject.CN;
    const o = subject.O;
    const name = Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? '');
    if (name !== '') {
      const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
      return { user: withAuthenticatedGroup({ username: name, groups, extra: {} }), anonymous: false };
    }
  }
  const token = bearerToken(req.headers.authorization);
  if (token !== undefined) {
    const result = authenticator.authenticate(token);
    return result.ok ? { user: result.user, anonymous: false } : undefined;
  }
  if (hasCertificate) return undefined;
  return anonymousAuth ? { user: ANONYMOUS, anonymous: true } : undefined;
}
