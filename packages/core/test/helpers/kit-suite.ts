/**
 * The set-up the tests against the testing kit share: one kit for the file (started before its
 * tests, closed after), and every verifier served over HTTP during a test closed with its server
 * after it, the kit's faults cleared and its call counts reset.
 */
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { ApiserverTokenVerifier } from '../../src/index.js';
import { startVerifyingServer, type VerifyingServer } from './verifying-server.js';

export interface KitSuite {
  /** The file's kit (once `beforeAll` has run). */
  readonly api: TestApiserver;
  /** Serves `verifier` on 127.0.0.1 for this test; both are closed after it. */
  serve(verifier: ApiserverTokenVerifier): Promise<VerifyingServer>;
}

export function kitSuite(options: Parameters<typeof startTestApiserver>[0] = {}): KitSuite {
  let api: TestApiserver | undefined;
  const opened: Array<{ verifier: ApiserverTokenVerifier; server: VerifyingServer }> = [];
  beforeAll(async () => {
    api = await startTestApiserver(options);
  });
  afterAll(async () => {
    await api?.close();
  });
  afterEach(async () => {
    api?.clearFaults();
    api?.resetCalls();
    for (const { verifier, server } of opened.splice(0)) {
      await server.close();
      await verifier.close();
    }
  });
  return {
    get api(): TestApiserver {
      if (api === undefined) throw new Error('the kit starts in beforeAll: use it inside a test');
      return api;
    },
    async serve(verifier) {
      const server = await startVerifyingServer(verifier);
      opened.push({ verifier, server });
      return server;
    },
  };
}
