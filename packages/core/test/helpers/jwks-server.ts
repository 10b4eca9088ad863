import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { testTls } from './tls.js';

/** What the issuer does when asked. */
export type Fault =
  | { kind: 'none' }
  | { kind: 'reset' }
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'garbage' }
  | { kind: 'html' }
  | { kind: 'hang' }
  | { kind: 'huge'; bytes: number }
  | { kind: 'slow'; ms: number }
  /** TLS fails: the server presents a certificate of another CA (set with {@link JwksServer.setFault}). */
  | { kind: 'tls' };

export interface JwksServer {
  url: string;
  /** The issuer its discovery document names (default: its own URL). */
  issuer: string;
  ca: string;
  /** Requests received, per path. */
  counts: { discovery: number; jwks: number; total: number };
  /** The Authorization header of each request, in order. */
  authorizations: Array<string | undefined>;
  jwks: { keys: Record<string, unknown>[] };
  cacheControl: string | undefined;
  fault: Fault;
  discoveryOverrides: Record<string, unknown>;
  /** Sets `fault`; for `tls` (and back) also swaps the certificate and drops open connections. */
  setFault(fault: Fault): void;
  close(): Promise<void>;
}

/** A small kube-apiserver-shaped discovery + JWKS endpoint on 127.0.0.1 (HTTPS with its own CA by default). */
export async function startJwksServer(
  options: {
    jwks?: { keys: Record<string, unknown>[] };
    tls?: boolean;
    issuer?: string;
    cacheControl?: string;
  } = {},
): Promise<JwksServer> {
  const sockets = new Set<Socket>();
  const tls = options.tls === false ? undefined : await testTls();
  const state: JwksServer = {
    url: '',
    issuer: '',
    ca: tls?.ca ?? '',
    counts: { discovery: 0, jwks: 0, total: 0 },
    authorizations: [],
    jwks: options.jwks ?? { keys: [] },
    cacheControl: options.cacheControl ?? 'public, max-age=3600',
    fault: { kind: 'none' },
    discoveryOverrides: {},
    setFault: () => {},
    close: async () => {},
  };
  const send = (res: ServerResponse, type: string, body: string): void => {
    const headers: Record<string, string> = { 'content-type': type };
    if (state.cacheControl !== undefined) headers['cache-control'] = state.cacheControl;
    res.writeHead(200, headers).end(body);
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    state.counts.total++;
    state.authorizations.push(req.headers.authorization);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/.well-known/openid-configuration') state.counts.discovery++;
    else if (path === '/openid/v1/jwks') state.counts.jwks++;
    const fault = state.fault;
    if (fault.kind === 'reset') return void req.socket.destroy();
    if (fault.kind === 'hang') return;
    if (fault.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      return void res.writeHead(fault.status, headers).end('{"kind":"Status"}');
    }
    if (fault.kind === 'garbage') return void send(res, 'application/json', '{"keys": [');
    if (fault.kind === 'html') return void send(res, 'text/html', '<html>login</html>');
    if (fault.kind === 'huge')
      return void send(res, 'application/json', `{"keys":[],"pad":"${'x'.repeat(fault.bytes)}"}`);
    const answer = (): void => {
      if (path === '/.well-known/openid-configuration') {
        send(
          res,
          'application/json',
          JSON.stringify({
            issuer: state.issuer,
            jwks_uri: `${state.url}/openid/v1/jwks`,
            response_types_supported: ['id_token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
            ...state.discoveryOverrides,
          }),
        );
      } else if (path === '/openid/v1/jwks') {
        send(res, 'application/jwk-set+json', JSON.stringify(state.jwks));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      }
    };
    if (fault.kind === 'slow') setTimeout(answer, fault.ms);
    else answer();
  };
  const server: Server =
    tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  state.issuer = options.issuer ?? state.url;
  const untrusted = tls === undefined ? undefined : await testTls('untrusted');
  state.setFault = (fault: Fault) => {
    const swap = (fault.kind === 'tls') !== (state.fault.kind === 'tls');
    state.fault = fault;
    if (!swap || tls === undefined || untrusted === undefined) return;
    const pair = fault.kind === 'tls' ? untrusted : tls;
    (server as import('node:https').Server).setSecureContext({ cert: pair.cert, key: pair.key });
    for (const socket of sockets) socket.destroy();
  };
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return state;
}
