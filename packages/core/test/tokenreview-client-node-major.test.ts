/**
 * The client-node test matrix (vitest.config.ts) is real: in the `client-node-2` project the
 * module core loads for TokenReview/SubjectAccessReview is client-node 2.x, in the default
 * project 1.x, so every test in the set runs against the major its project names.
 */
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { importClientNode } from '../src/tokenreview/client-node.js';

const [nodeMajor = 0, nodeMinor = 0] = process.versions.node.split('.').map(Number);
const runsClientNode2 = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 19);

it('core loads the client-node major of this test project', async () => {
  const major = process.env['CLIENT_NODE_MAJOR'];
  expect(['1', '2']).toContain(major);
  const loaded = await importClientNode();
  // The default dependency, resolved by Node itself (no test alias), is 1.x.
  const require = createRequire(import.meta.url);
  expect((require('@kubernetes/client-node/package.json') as { version: string }).version).toMatch(/^1\./);
  if (major === '1') {
    const one = await import('@kubernetes/client-node');
    expect(loaded.KubeConfig).toBe(one.KubeConfig);
  }
  if (runsClientNode2) {
    const two = await import('client-node-2');
    expect(loaded.KubeConfig === two.KubeConfig).toBe(major === '2');
  } else {
    expect(major).toBe('1');
  }
});
