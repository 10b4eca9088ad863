import { DURATION_BUCKETS, METRICS, type MetricDefinition } from './definitions.js';
import type { MeterLike, MetricAttributes, ObservableResultLike } from './options.js';
import { SourceSet } from './snapshot.js';
import type { MetricsTarget } from './target.js';

const HIT: MetricAttributes = Object.freeze({ cache: 'hit' });
const MISS: MetricAttributes = Object.freeze({ cache: 'miss' });

/**
 * The instruments on an OpenTelemetry meter, under the same names as in Prometheus: counters
 * and gauges are asynchronous instruments read at export time, the latency a histogram.
 */
class OpenTelemetryTarget implements MetricsTarget {
  readonly latency: MetricsTarget['latency'];
  readonly #sources = new SourceSet();

  constructor(meter: MeterLike) {
    const sources = this.#sources;
    for (const definition of Object.values(METRICS) as MetricDefinition[]) {
      if (definition.type === 'histogram') continue;
      const options = {
        description: definition.help,
        ...(definition.unit !== undefined && { unit: definition.unit }),
      };
      const instrument =
        definition.type === 'counter'
          ? meter.createObservableCounter(definition.name, options)
          : meter.createObservableGauge(definition.name, options);
      instrument.addCallback((result: ObservableResultLike) => {
        for (const item of sources.collect(definition)) result.observe(item.value, item.labels);
      });
    }
    const histogram = meter.createHistogram(METRICS.duration.name, {
      description: METRICS.duration.help,
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] },
    });
    this.latency = {
      hit: (seconds) => histogram.record(seconds, HIT),
      miss: (seconds) => histogram.record(seconds, MISS),
    };
  }

  attach(source: Parameters<MetricsTarget['attach']>[0]): () => void {
    this.#sources.add(source);
    return () => this.#sources.remove(source);
  }
}

const targets = new WeakMap<object, OpenTelemetryTarget>();

/** The instruments on `meter` (created on first use, shared by every verifier given it). */
export function openTelemetryTarget(meter: MeterLike): MetricsTarget {
  let target = targets.get(meter);
  if (target === undefined) {
    target = new OpenTelemetryTarget(meter);
    targets.set(meter, target);
  }
  return target;
}
