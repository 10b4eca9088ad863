/**
 * deploy/networkpolicy.yaml, the conversion webhook's protection while a stock kube-apiserver
 * presents no credential: it must select the webhook's pods, admit address blocks only (a pod or
 * namespace selector would let pods back in), and only on the port the server listens on.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

interface Peer {
  ipBlock?: { cidr: string; except?: string[] };
  podSelector?: unknown;
  namespaceSelector?: unknown;
}
interface NetworkPolicy {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: string[];
    ingress: Array<{ from?: Peer[]; ports?: Array<{ protocol: string; port: number }> }>;
  };
}

describe('deploy/networkpolicy.yaml', () => {
  const policy = parse(read('deploy/networkpolicy.yaml')) as NetworkPolicy;

  it("selects the webhook's pods in the CRD's service namespace and governs their ingress", () => {
    expect(policy).toMatchObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' });
    // The CRD's clientConfig.service in the README: widgets/widget-converter.
    expect(policy.metadata.namespace).toBe('widgets');
    expect(policy.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'widget-converter' });
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
  });

  it('admits address blocks only, on the port server.mjs listens on by default', () => {
    const port = Number(/env\.PORT \?\? (\d+)/.exec(read('server.mjs'))?.[1]);
    expect(policy.spec.ingress.length).toBeGreaterThan(0);
    for (const rule of policy.spec.ingress) {
      // An empty or missing `from` admits every source.
      expect(rule.from?.length).toBeGreaterThan(0);
      for (const peer of rule.from ?? []) {
        expect(Object.keys(peer)).toEqual(['ipBlock']);
        expect(peer.ipBlock?.cidr).toMatch(/^[0-9a-f.:]+\/\d+$/);
      }
      expect(rule.ports).toEqual([{ protocol: 'TCP', port }]);
    }
  });

  it('is the protection the README and the root README point to', () => {
    expect(read('README.md')).toContain('](deploy/networkpolicy.yaml)');
    expect(read('../../README.md')).toContain('NetworkPolicy that admits only the control plane');
  });
});
