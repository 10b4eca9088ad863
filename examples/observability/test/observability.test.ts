/**
 * The example end to end: real traffic to the webhook (the testing kit as apiserver), then a
 * scrape of its metrics port over HTTP. Every metric and label that the Grafana dashboard and the
 * PrometheusRule query must be in that scrape, so neither can silently refer to a name that
 * does not exist.
 */
import { readFileSync } from 'node:fs';
import { METRIC_NAMES } from '@apiserver-token/core';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startWebhook } from '../webhook.mjs';

const AUDIENCE = 'https://observed-webhook.my-ns.svc:443/validate';
const deploy = (file: string) => readFileSync(new URL(`../deploy/${file}`, import.meta.url), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
}
interface Panel {
  type: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(deploy('grafana-dashboard.json')) as {
  panels: Panel[];
  templating: { list: { query: unknown }[] };
};
const ruleFile = parse(deploy('prometheus-rule.yaml')) as {
  apiVersion: string;
  kind: string;
  spec: { groups: { rules: Rule[] }[] };
};
const rules = ruleFile.spec.groups.flatMap((group) => group.rules);

const dashboardQueries = [
  ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)),
  ...dashboard.templating.list.map((variable) => variable.query).filter((query) => typeof query === 'string'),
] as string[];
const queries = [...dashboardQueries, ...rules.map((rule) => rule.expr)];

/** Names and labels of the samples of a Prometheus text scrape. */
function scraped(text: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const labels = series.get(match[1] as string) ?? new Set<string>();
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g))
      labels.add(pair[1] as string);
    series.set(match[1] as string, labels);
  }
  return series;
}

let api: TestApiserver;
let webhook: Awaited<ReturnType<typeof startWebhook>>;
let metrics: Map<string, Set<string>>;

beforeAll(async () => {
  api = await startTestApiserver();
  api.allow({ user: '*', verb: 'create', apiGroup: 'example.com', resource: 'validations' });
  // hybrid with a SubjectAccessReview: every family of metrics has series to show.
  webhook = await startWebhook({
    auth: {
      audience: AUDIENCE,
      issuer: api.issuer,
      jwks: { ca: api.ca },
      mode: 'hybrid',
      kubeconfig: api.kubeconfigPath,
      policy: {
        subjectAccessReview: {
          resourceAttributes: { verb: 'create', group: 'example.com', resource: 'validations' },
        },
      },
      inCluster: false,
      env: {},
    },
    port: 0,
    metricsPort: 0,
    host: '127.0.0.1',
  });
  const send = async (token: string | undefined) => {
    const response = await fetch(`http://127.0.0.1:${webhook.port}/validate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: '{}',
    });
    await response.arrayBuffer();
    return response.status;
  };
  const valid = await api.mintToken({
    namespace: 'kube-system',
    serviceAccount: 'webhook-auth',
    audiences: [AUDIENCE],
  });
  const statuses = [
    await send(valid),
    await send(valid),
    await send(await api.mintToken({ audiences: [AUDIENCE], signWith: 'foreign' })),
    await send(undefined),
  ];
  expect(statuses).toEqual([200, 200, 401, 401]);
  const response = await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`);
  expect(response.status).toBe(200);
  metrics = scraped(await response.text());
}, 60_000);

afterAll(async () => {
  await webhook?.close();
  await api?.close();
});

describe('the Grafana dashboard and the PrometheusRule', () => {
  it('query only metrics that a real scrape exposes, after real traffic', () => {
    const named = new Set(
      queries.flatMap((query) => [...query.matchAll(/\bapiserver_token_[a-z_]+/g)].map((m) => m[0])),
    );
    expect(named.size).toBeGreaterThan(10);
    const missing = [...named].filter((name) => !metrics.has(name));
    expect(missing).toEqual([]);
    // And the requests counter reflects the traffic: 2 accepted, 2 rejected.
    expect(metrics.get('apiserver_token_requests_total')).toEqual(
      new Set(['outcome', 'verified_by', 'code']),
    );
  });

  it('group and filter only by labels the metrics carry (or the pod labels Prometheus adds)', () => {
    const targetLabels = new Set(['namespace', 'pod', 'le']);
    const known = new Set([...metrics.values()].flatMap((labels) => [...labels]));
    const used = new Set(
      queries.flatMap((query) => [
        ...[...query.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) =>
          (m[1] as string).split(',').map((l) => l.trim()),
        ),
        ...[...query.matchAll(/([a-z_]+)=~?"/g)].map((m) => m[1] as string),
      ]),
    );
    expect([...used].filter((label) => !known.has(label) && !targetLabels.has(label))).toEqual([]);
  });

  it('the dashboard shows every metric the verifier exports', () => {
    const text = dashboardQueries.join('\n');
    expect(METRIC_NAMES.filter((name) => !text.includes(name))).toEqual([]);
  });

  it('alert on what matters: keys not refreshed for an hour, TokenReviews refused at the cap, a rejection spike', () => {
    expect(ruleFile).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' });
    const byName = new Map(rules.map((rule) => [rule.alert, rule]));
    expect(byName.get('ApiserverTokenKeysNotRefreshed')?.expr).toMatch(
      /apiserver_token_jwks_last_success_timestamp_seconds[\s\S]*> 3600/,
    );
    expect(byName.get('ApiserverTokenTokenReviewsRefused')?.expr).toContain(
      'apiserver_token_tokenreviews_refused_total',
    );
    expect(byName.get('ApiserverTokenRejectionSpike')?.expr).toContain('outcome="rejected"');
    for (const rule of rules) {
      expect(rule.for).toMatch(/^\d+m$/);
      expect(['warning', 'critical']).toContain(rule.labels.severity);
    }
  });
});
