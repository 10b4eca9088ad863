import { ApiserverTokenConfigError } from '../errors.js';
import { DURATION_BUCKETS, METRICS, type MetricDefinition } from './definitions.js';
import type { PrometheusRegistryLike } from './options.js';
import { type Series, SourceSet } from './snapshot.js';
import type { MetricsTarget } from './target.js';

type Labels = Record<string, string>;

interface PromMetric {
  reset(): void;
}

/** The parts of the `prom-client` 15 module used here. */
export interface PromClientModule {
  register: PrometheusRegistryLike;
  Counter: new (configuration: {
    name: string;
    help: string;
    labelNames: readonly string[];
    registers: PrometheusRegistryLike[];
    collect?: () => void;
  }) => PromMetric & { inc(labels: Labels, value: number): void };
  Gauge: new (configuration: {
    name: string;
    help: string;
    labelNames: readonly string[];
    registers: PrometheusRegistryLike[];
    collect?: () => void;
  }) => PromMetric & { set(labels: Labels, value: number): void };
  Histogram: new (configuration: {
    name: string;
    help: string;
    labelNames: readonly string[];
    buckets: number[];
    registers: PrometheusRegistryLike[];
  }) => PromMetric & {
    labels(labels: Labels): { observe(value: number): void };
    zero(labels: Labels): void;
  };
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The instruments in a prom-client registry. Counters and gauges are read from the verifiers at
 * scrape time (the request path only bumps plain numbers); the latency histogram is observed
 * per request.
 */
class PrometheusTarget implements MetricsTarget {
  readonly latency: MetricsTarget['latency'];
  readonly #sources = new SourceSet();

  constructor(client: PromClientModule, registry: PrometheusRegistryLike) {
    const sources = this.#sources;
    const registers = [registry];
    for (const definition of Object.values(METRICS) as MetricDefinition[]) {
      const { name, help, labels: labelNames } = definition;
      if (definition.type === 'counter') {
        // prom-client counters only go up by increments: each scrape adds what was counted since
        // the previous one, per label set.
        const reported = new Map<string, number>();
        const counter: InstanceType<PromClientModule['Counter']> = new client.Counter({
          name,
          help,
          labelNames,
          registers,
          collect: () => {
            for (const item of sources.collect(definition)) flush(counter, reported, item);
          },
        });
      } else if (definition.type === 'gauge') {
        const gauge: InstanceType<PromClientModule['Gauge']> = new client.Gauge({
          name,
          help,
          labelNames,
          registers,
          collect: () => {
            gauge.reset();
            for (const item of sources.collect(definition)) gauge.set({ ...item.labels }, item.value);
          },
        });
      }
    }
    const histogram = new client.Histogram({
      name: METRICS.duration.name,
      help: METRICS.duration.help,
      labelNames: METRICS.duration.labels,
      buckets: [...DURATION_BUCKETS],
      registers,
    });
    histogram.zero({ cache: 'hit' });
    histogram.zero({ cache: 'miss' });
    const hit = histogram.labels({ cache: 'hit' });
    const miss = histogram.labels({ cache: 'miss' });
    this.latency = { hit: (seconds) => hit.observe(seconds), miss: (seconds) => miss.observe(seconds) };
  }

  attach(source: Parameters<MetricsTarget['attach']>[0]): () => void {
    this.#sources.add(source);
    return () => this.#sources.remove(source);
  }
}

function flush(
  counter: InstanceType<PromClientModule['Counter']>,
  reported: Map<string, number>,
  item: Series,
): void {
  const labels = { ...item.labels };
  const key = keyOf(labels);
  const before = reported.get(key) ?? 0;
  // Zero increments too: the series exists from the first scrape on, so rate() and alerts see it.
  counter.inc(labels, Math.max(item.value - before, 0));
  reported.set(key, Math.max(item.value, before));
}

const targets = new WeakMap<object, PrometheusTarget>();

/** The instruments in `registry` (created on first use, shared by every verifier given it). */
export function prometheusTarget(
  client: PromClientModule,
  registry: PrometheusRegistryLike,
  field: string,
): MetricsTarget {
  const taken = METRICS.requests.name;
  const registered = registry.getSingleMetric(taken) !== undefined;
  let target = targets.get(registry);
  // A registry cleared since (registry.clear() in tests, a reset exporter) gets the instruments anew.
  if (target !== undefined && registered) return target;
  if (target === undefined && registered) {
    throw new ApiserverTokenConfigError(
      field,
      `the registry already holds ${taken}, registered by another copy of @apiserver-token/core: ` +
        'give each copy its own registry, or deduplicate the package',
    );
  }
  target = new PrometheusTarget(client, registry);
  targets.set(registry, target);
  return target;
}
