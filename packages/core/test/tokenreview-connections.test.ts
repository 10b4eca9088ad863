/**
 * The TokenReview client reuses its TLS connections (client-node makes a new agent (1.x) or undici
 * dispatcher (2.x), hence a new connection, per call) and keeps many reviews in flight without a MaxListenersExceededWarning.
 * A counting TCP relay sits between the real client-node and the testing kit's apiserver.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../src/index.js';

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
let api: TestApiserver;
let relay: Server;
let dir: string;
let kubeconfigPath: string;
const open = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  api = await startTestApiserver();
  const target = new URL(api.url);
  relay = createServer((client) => {
    connections++;
    open.add(client);
    client.on('close', () => open.delete(client));
    const upstream = new Socket();
    upstream.connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'tr-connections-'));
  kubeconfigPath = join(dir, 'kubeconfig');
  const relayed = readFileSync(api.kubeconfigPath, 'utf8').replaceAll(
    api.url.replace(/\/$/, ''),
    `https://${target.hostname}:${port}`,
  );
  expect(relayed).not.toBe(readFileSync(api.kubeconfigPath, 'utf8'));
  writeFileSync(kubeconfigPath, relayed);
});

afterAll(async () => {
  for (const socket of open) socket.destroy();
  await new Promise<void>((resolve) => relay.close(() => resolve()));
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A pause between sequential calls: undici (client-node 2.x) returns a connection to its pool a
 * moment after the response resolves, so a call made in that same moment would open another.
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

let serial = 0;
const mint = () =>
  api.mintToken({ namespace: 'kube-system', serviceAccount: `sa-${serial++}`, audiences: [AUDIENCE] });

describe('TokenReview connections', () => {
  it('reuses keep-alive connections, warns about no listeners, and closes them on close()', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const verifier = createVerifier({
        audience: AUDIENCE,
        mode: 'tokenreview',
        kubeconfig: kubeconfigPath,
        env: {},
        inCluster: false,
      });
      await verifier.ready();
      api.resetCalls();
      connections = 0;
      // 40 distinct tokens at once, answered slowly: up to 32 reviews in flight (the default cap).
      api.setFault('tokenreviews', { latencyMs: 100 });
      const burst = await Promise.all(Array.from({ length: 40 }, mint));
      const identities = await Promise.all(burst.map((token) => verifier.verifyToken(token)));
      expect(identities).toHaveLength(40);
      expect(api.calls('tokenreviews')).toBe(40);
      const afterBurst = connections;
      expect(afterBurst).toBeGreaterThan(0);
      // 32 in flight at most; client-node 2.x (undici) may open a few more for the reviews that
      // start in the moment before a finished one's connection is back in the pool.
      expect(afterBurst).toBeLessThanOrEqual(process.env['CLIENT_NODE_MAJOR'] === '2' ? 39 : 32);
      api.clearFaults();
      // Then one at a time: every review rides a connection already open.
      for (let i = 0; i < 20; i++) {
        await verifier.verifyToken(await mint());
        await settle();
      }
      expect(api.calls('tokenreviews')).toBe(60);
      expect(connections).toBe(afterBurst);
      // Let emitted warnings reach the listener.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      expect(open.size).toBeGreaterThan(0);
      await verifier.close();
      const deadline = Date.now() + 2000;
      while (open.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(open.size).toBe(0);
    } finally {
      process.off('warning', onWarning);
      api.clearFaults();
    }
  });

  it('sends SubjectAccessReviews over one reused connection too', async () => {
    const verifier = createVerifier({
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      kubeconfig: kubeconfigPath,
      inCluster: false,
      env: {},
      policy: {
        subjectAccessReview: {
          resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'create' },
        },
      },
    });
    try {
      await verifier.ready();
      api.resetCalls();
      connections = 0;
      for (let i = 0; i < 10; i++) {
        await verifier.verifyToken(await mint()).catch(() => undefined);
        await settle();
      }
      expect(api.calls('subjectaccessreviews')).toBe(10);
      expect(connections).toBe(1);
    } finally {
      await verifier.close();
    }
  });
});
