import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiserverTokenConfigError } from '../src/errors.js';
import { createVerifier } from '../src/index.js';
import {
  assertClientNodeInstalled,
  clientNodeIncompatibility,
  importClientNode,
  isModuleInstalled,
} from '../src/tokenreview/client-node.js';
import {
  type InClusterLocations,
  type KubeconfigSource,
  resolveKubeConfig,
  validateKubeconfigSource,
} from '../src/tokenreview/kubeconfig.js';
import { TokenReviewClient } from '../src/tokenreview/review-client.js';
import { clientNodeTransport } from '../src/tokenreview/transport.js';
import {
  type ReviewServer,
  reviewAnswer,
  startReviewServer,
  writeKubeconfig,
} from './helpers/review-server.js';

const AUDIENCE = 'https://webhook.example';
let server: ReviewServer;
let dir: string;

beforeAll(async () => {
  server = await startReviewServer(() =>
    reviewAnswer({ authenticated: true, user: { username: 'admin', groups: [] }, audiences: [AUDIENCE] }),
  );
  dir = mkdtempSync(join(tmpdir(), 'kubeconfig-test-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
  server.received.length = 0;
});

async function reviewWith(
  source: KubeconfigSource,
  inCluster: InClusterLocations | false = false,
  env: Record<string, string> = {},
) {
  const module = await importClientNode();
  const transport = clientNodeTransport(module, resolveKubeConfig(module, source, inCluster, env));
  const client = new TokenReviewClient(async () => transport, {
    timeout: 2000,
    retries: 0,
    backoff: { initial: 10, factor: 1, jitter: 0, max: 10 },
    deadline: 3000,
    maxInFlight: 4,
    maxQueued: 4,
  });
  return {
    review: async () => {
      await client.review('t', [AUDIENCE]);
      return server.received.at(-1)?.headers.authorization;
    },
  };
}

describe('where TokenReview credentials come from', () => {
  it('a kubeconfig path', async () => {
    const { review } = await reviewWith(server.kubeconfigPath);
    expect(await review()).toBe(`Bearer ${server.reviewerToken}`);
  });

  it('a KubeConfig instance made by the application', async () => {
    const config = new KubeConfig();
    config.loadFromFile(server.kubeconfigPath);
    const { review } = await reviewWith(config);
    expect(await review()).toBe(`Bearer ${server.reviewerToken}`);
  });

  it('the default rules: the first file of KUBECONFIG', async () => {
    const { review } = await reviewWith(undefined, false, {
      KUBECONFIG: `${server.kubeconfigPath}:/nonexistent`,
    });
    expect(await review()).toBe(`Bearer ${server.reviewerToken}`);
  });

  it("'in-cluster': the pod's CA and token, and KUBERNETES_SERVICE_HOST/PORT", async () => {
    const tokenPath = join(dir, 'token-env');
    const caPath = join(dir, 'ca-env.crt');
    writeFileSync(tokenPath, 'pod-token-1');
    writeFileSync(caPath, server.caPem);
    const { review } = await reviewWith(
      'in-cluster',
      { tokenPath, caPath },
      {
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: String(server.port),
      },
    );
    expect(await review()).toBe('Bearer pod-token-1');
  });

  it('without a source, in a pod (token file present, no KUBECONFIG): in-cluster', async () => {
    const tokenPath = join(dir, 'token-default');
    const caPath = join(dir, 'ca-default.crt');
    writeFileSync(tokenPath, 'pod-token-default');
    writeFileSync(caPath, server.caPem);
    const { review } = await reviewWith(undefined, { tokenPath, caPath, url: server.url });
    expect(await review()).toBe('Bearer pod-token-default');
  });

  it('the in-cluster token is re-read as the kubelet rotates it, never pinned for the life of the process', async () => {
    // client-node 1.x's `tokenFile` provider (FileAuth) re-reads the file when its copy is older
    // than 60 s, as client-go does; the kubelet rotates at 80% of a >= 1 h lifetime, so the old
    // token is still valid during that minute. Only Date is faked: sockets and timers are real.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-23T17:00:00Z'));
    const tokenPath = join(dir, 'token-rotating');
    const caPath = join(dir, 'ca.crt');
    writeFileSync(tokenPath, 'pod-token-A');
    writeFileSync(caPath, server.caPem);
    const { review } = await reviewWith('in-cluster', { tokenPath, caPath, url: server.url });
    expect(await review()).toBe('Bearer pod-token-A');

    writeFileSync(tokenPath, 'pod-token-B');
    vi.setSystemTime(new Date('2026-11-23T17:00:30Z'));
    expect(await review()).toBe('Bearer pod-token-A');

    vi.setSystemTime(new Date('2026-11-23T17:01:01Z'));
    expect(await review()).toBe('Bearer pod-token-B');

    writeFileSync(tokenPath, 'pod-token-C');
    vi.setSystemTime(new Date('2026-11-23T17:02:02Z'));
    expect(await review()).toBe('Bearer pod-token-C');
  });

  it('refuses an http:// or missing apiserver instead of falling back to localhost:8080', async () => {
    const module = await importClientNode();
    const httpConfig = join(dir, 'http-kubeconfig');
    writeKubeconfig(dir, 'http://127.0.0.1:1', server.caPem, 't', 'http-kubeconfig');
    expect(() => resolveKubeConfig(module, httpConfig, false, {})).toThrow(ApiserverTokenConfigError);
    const home = process.env.HOME;
    process.env.HOME = dir; // no ~/.kube/config there
    try {
      const error = (() => {
        try {
          resolveKubeConfig(
            module,
            undefined,
            { tokenPath: join(dir, 'absent'), caPath: join(dir, 'absent') },
            {},
          );
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ApiserverTokenConfigError);
      expect((error as ApiserverTokenConfigError).field).toBe('kubeconfig');
      expect((error as Error).message).toContain("'in-cluster'");
    } finally {
      process.env.HOME = home;
    }
  });

  it('validates the option at construction', () => {
    expect(validateKubeconfigSource(undefined)).toBeUndefined();
    expect(validateKubeconfigSource('in-cluster')).toBe('in-cluster');
    expect(validateKubeconfigSource(server.kubeconfigPath)).toBe(server.kubeconfigPath);
    for (const bad of ['', '   ', 42, {}, { makeApiClient: 1 }, join(dir, 'nope')]) {
      expect(() => validateKubeconfigSource(bad)).toThrow(ApiserverTokenConfigError);
    }
  });

  it('refuses at construction a kubeconfig that does not parse, as a missing one, naming the fix and no secret', () => {
    const write = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const secret = 'sha256~do-not-print-this-token';
    const broken = write(
      'broken-kubeconfig',
      `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: ${secret}\n  : [unclosed\n`,
    );
    const refusal = (path: string) => {
      try {
        createVerifier({
          audience: AUDIENCE,
          mode: 'tokenreview',
          inCluster: false,
          env: {},
          kubeconfig: path,
        });
      } catch (error) {
        return error as ApiserverTokenConfigError;
      }
      throw new Error(`createVerifier accepted ${path}`);
    };
    const error = refusal(broken);
    expect(error).toBeInstanceOf(ApiserverTokenConfigError);
    expect(error.field).toBe('kubeconfig');
    expect(error.message).toMatch(/does not parse as YAML \(.+ at line \d+, column \d+\)/);
    expect(error.message).toContain('kubectl config view --kubeconfig');
    expect(error.message).not.toContain(secret);
    // The same through the environment names the variable.
    const fromEnv = (() => {
      try {
        createVerifier({
          audience: AUDIENCE,
          mode: 'tokenreview',
          inCluster: false,
          env: { APISERVER_TOKEN_KUBECONFIG: broken },
        });
      } catch (caught) {
        return caught as ApiserverTokenConfigError;
      }
    })();
    expect(fromEnv?.field).toBe('APISERVER_TOKEN_KUBECONFIG');
    // Empty, a list, no current context, or an http:// server: all refused before any request.
    expect(refusal(write('empty-kubeconfig', '')).message).toMatch(/is not a kubeconfig .* holds nothing/);
    expect(refusal(write('list-kubeconfig', '- a\n- b\n')).message).toMatch(/holds a list/);
    expect(
      refusal(write('no-context-kubeconfig', 'apiVersion: v1\nclusters: []\ncontexts: []\nusers: []\n'))
        .message,
    ).toMatch(/no usable apiserver in .* \(current cluster server: null\)/);
    writeKubeconfig(dir, 'http://127.0.0.1:1', server.caPem, 't', 'plain-http-kubeconfig');
    expect(refusal(join(dir, 'plain-http-kubeconfig')).message).toContain('"http://127.0.0.1:1"');
    // And a good one is still accepted.
    expect(validateKubeconfigSource(server.kubeconfigPath)).toBe(server.kubeconfigPath);
  });

  it('knows whether @kubernetes/client-node is installed, and says how to fix it when not', () => {
    expect(isModuleInstalled('@kubernetes/client-node')).toBe(true);
    expect(() => assertClientNodeInstalled('mode')).not.toThrow();
    expect(isModuleInstalled('@kubernetes/client-node-not-installed')).toBe(false);
    expect(() => assertClientNodeInstalled('mode', '@kubernetes/client-node-not-installed')).toThrow(
      ApiserverTokenConfigError,
    );
  });
});

describe('client-node 2.x needs Node.js 22.19', () => {
  it.each([
    ['2.0.1', '20.20.2', true],
    ['2.0.1', '22.18.0', true],
    ['2.0.1', '22.19.0', false],
    ['2.0.1', '24.1.0', false],
    ['1.4.0', '20.19.0', false],
    [undefined, '20.19.0', false],
  ] as const)('client-node %s on Node.js %s: refused %s', (clientNode, nodeVersion, refused) => {
    const message = clientNodeIncompatibility(clientNode, nodeVersion);
    if (refused) {
      expect(message).toBe(
        `\`@kubernetes/client-node\` ${clientNode} is installed, and 2.x needs Node.js >= 22.19 ` +
          `(this is Node.js ${nodeVersion}): npm install @kubernetes/client-node@^1, ` +
          "or run on Node.js >= 22.19, or use mode 'jwks'",
      );
    } else {
      expect(message).toBeUndefined();
    }
  });
});
