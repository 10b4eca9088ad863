import type { VerifierOptions } from '@apiserver-token/core';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll } from 'vitest';
import { WEBHOOK_AUDIENCE } from './admission-review.js';

/** The service account the adapter tests' tokens are minted for. */
export const CALLER = { namespace: 'kube-system', serviceAccount: 'webhook-auth' } as const;

/** The testing kit of one test file, read inside tests (it starts in `beforeAll`). */
export interface FileTestApiserver {
  /** The running kit. */
  readonly api: TestApiserver;
  /** Verifier options that trust the kit for {@link WEBHOOK_AUDIENCE}, ignoring the environment. */
  readonly options: VerifierOptions;
  /** A token of {@link CALLER} for {@link WEBHOOK_AUDIENCE}; `overrides` change any of it. */
  mint(overrides?: Parameters<TestApiserver['mintToken']>[0]): Promise<string>;
}

/**
 * Starts the testing kit as the apiserver before the calling file's tests and closes it after
 * them. `jwks` is merged into the verifier options (e.g. a shorter `timeout`).
 */
export function useTestApiserver(jwks: VerifierOptions['jwks'] = {}): FileTestApiserver {
  let api: TestApiserver | undefined;
  let options: VerifierOptions | undefined;
  beforeAll(async () => {
    api = await startTestApiserver();
    options = {
      audience: WEBHOOK_AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca, ...jwks },
      inCluster: false,
      env: {},
    };
  });
  afterAll(async () => {
    await api?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('the test apiserver starts in beforeAll: read it inside a test or hook');
    return value;
  };
  return {
    get api() {
      return started(api);
    },
    get options() {
      return started(options);
    },
    mint: (overrides = {}) =>
      started(api).mintToken({ ...CALLER, audiences: [WEBHOOK_AUDIENCE], ...overrides }),
  };
}
