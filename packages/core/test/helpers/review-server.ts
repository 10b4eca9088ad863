/**
 * A real HTTPS server on 127.0.0.1 that answers `POST /apis/authentication.k8s.io/v1/tokenreviews`
 * (and SubjectAccessReviews) as a test tells it to, with its own CA (made by the testing kit) and a kubeconfig pointing at
 * it, so that the real `@kubernetes/client-node` talks to it exactly as to a kube-apiserver.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testTls } from './tls.js';

export const TOKENREVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
export const SUBJECTACCESSREVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/** One request the server received. */
export interface ReceivedReview {
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The path posted to: {@link TOKENREVIEW_PATH} or {@link SUBJECTACCESSREVIEW_PATH}. */
  path: string;
}

/** What the server does with a request: answer, cut the connection, or never answer. */
export type ReviewAnswer =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | { reset: true; delayMs?: number }
  | { hang: true };

export type ReviewHandler = (request: ReceivedReview, index: number) => ReviewAnswer | Promise<ReviewAnswer>;

export interface ReviewServer {
  url: string;
  port: number;
  caPem: string;
  /** A kubeconfig file with this server, its CA and a static bearer token. */
  kubeconfigPath: string;
  /** The bearer token the kubeconfig presents. */
  reviewerToken: string;
  received: ReceivedReview[];
  /** Most requests open at the same time so far. */
  maxConcurrent: number;
  readonly inFlight: number;
  handler: ReviewHandler;
  /** Stop accepting connections (the port stays known; `resume()` listens on it again). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** A TokenReview answer as the apiserver sends it (201, JSON). */
export function reviewAnswer(status: Record<string, unknown>, spec: unknown = {}): ReviewAnswer {
  return {
    status: 201,
    headers: { 'content-type': 'application/json' },
    body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: {}, spec, status },
  };
}

/** A Kubernetes `Status` error answer. */
export function statusAnswer(code: number, headers: Record<string, string> = {}): ReviewAnswer {
  return {
    status: code,
    headers: { 'content-type': 'application/json', ...headers },
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `status ${code}`,
      code,
    },
  };
}

export function writeKubeconfig(
  dir: string,
  url: string,
  caPem: string,
  token: string,
  name = 'kubeconfig',
): string {
  const path = join(dir, name);
  const ca = Buffer.from(caPem).toString('base64');
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${url}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      '- name: reviewer',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      '    user: reviewer',
      'current-context: test',
      '',
    ].join('\n'),
  );
  return path;
}

export async function startReviewServer(handler: ReviewHandler): Promise<ReviewServer> {
  const { ca: caPem, key: keyPem, cert: certPem } = await testTls();
  const dir = mkdtempSync(join(tmpdir(), 'review-server-'));
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let count = 0;

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    state.maxConcurrent = Math.max(state.maxConcurrent, inFlight);
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        inFlight--;
      }
    };
    res.on('close', finish);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = Buffer.concat(chunks).toString('utf8');
      }
      const path = req.url?.split('?')[0] ?? '';
      if (req.method !== 'POST' || (path !== TOKENREVIEW_PATH && path !== SUBJECTACCESSREVIEW_PATH)) {
        res.writeHead(404).end();
        return;
      }
      const received: ReceivedReview = { headers: req.headers, body, path };
      state.received.push(received);
      const answer = await state.handler(received, count++);
      if ('hang' in answer) return;
      if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
      if ('reset' in answer) {
        // A TCP RST where the socket allows it, else an abrupt close: both read as a reset.
        try {
          req.socket.resetAndDestroy();
        } catch {
          req.socket.destroy();
        }
        return;
      }
      res.writeHead(answer.status, answer.headers ?? { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  };

  let server: Server = createServer({ key: keyPem, cert: certPem }, onRequest);
  const track = (srv: Server) =>
    srv.on('secureConnection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
  track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const reviewerToken = 'reviewer-static-token';

  const stop = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const state: ReviewServer = {
    url,
    port,
    caPem,
    kubeconfigPath: writeKubeconfig(dir, url, caPem, reviewerToken),
    reviewerToken,
    received: [],
    maxConcurrent: 0,
    get inFlight() {
      return inFlight;
    },
    handler,
    pause: stop,
    async resume() {
      server = createServer({ key: keyPem, cert: certPem }, onRequest);
      track(server);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      if (server.listening) await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return state;
}
