/**
 * Reading metrics back the way a monitoring system does: the Prometheus text format scraped over
 * HTTP, and OpenTelemetry data points through the SDK's in-memory exporter.
 */
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type { Registry } from 'prom-client';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (what a scrape returns). */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = pair[2] as string;
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; 0 when there is none. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  return found.reduce((sum, sample) => sum + sample.value, 0);
}

/** Serves `registry` on `GET /metrics` over real HTTP, as a webhook's metrics port would. */
export async function serveRegistry(registry: Registry) {
  const server = createServer((_req, res) => {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (error: Error) => {
        res.writeHead(500);
        res.end(error.message);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  return {
    url,
    scrape: () =>
      new Promise<Sample[]>((resolve, reject) => {
        get(url, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve(parsePrometheusText(text)));
        }).on('error', reject);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface OtelPoint {
  attributes: Record<string, unknown>;
  value: number | Histogram;
}

/** An OpenTelemetry SDK meter whose data is read back through the in-memory exporter. */
export function otelMeter() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: provider.getMeter('apiserver-token-test'),
    /** Every metric's data points as of now, by name. */
    async read(): Promise<Map<string, OtelPoint[]>> {
      exporter.reset();
      await reader.forceFlush();
      const byName = new Map<string, OtelPoint[]>();
      for (const resource of exporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) {
          for (const metric of scope.metrics) {
            const points = (metric.dataPoints as DataPoint<number | Histogram>[]).map((point) => ({
              attributes: { ...point.attributes },
              value: point.value,
            }));
            byName.set(metric.descriptor.name, points);
          }
        }
      }
      return byName;
    },
    shutdown: () => provider.shutdown(),
  };
}

/** Sum of the data points of `name` whose attributes include `attributes` (counts for histograms). */
export function otelValue(
  metrics: Map<string, OtelPoint[]>,
  name: string,
  attributes: Record<string, string> = {},
): number {
  return (metrics.get(name) ?? [])
    .filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value))
    .reduce((sum, point) => sum + (typeof point.value === 'number' ? point.value : point.value.count), 0);
}
