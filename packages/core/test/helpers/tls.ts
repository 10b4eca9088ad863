import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCertificates } from '@apiserver-token/testing';

/** A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it. */
export interface TestTls {
  ca: string;
  cert: string;
  key: string;
  /** A temp folder holding `<name>-ca.crt`, for options that take a CA file. */
  dir: string;
}

const made = new Map<string, Promise<TestTls>>();

async function make(name: string): Promise<TestTls> {
  const { ca, cert, key } = await createTestCertificates({ caName: `${name} test CA` });
  const dir = mkdtempSync(join(tmpdir(), 'apiserver-token-tls-'));
  writeFileSync(join(dir, `${name}-ca.crt`), ca);
  return { ca, cert, key, dir };
}

/** Generated once per name and test file, by the testing kit (node has no X.509 builder). */
export function testTls(name = 'server'): Promise<TestTls> {
  let tls = made.get(name);
  if (tls === undefined) {
    tls = make(name);
    made.set(name, tls);
  }
  return tls;
}
