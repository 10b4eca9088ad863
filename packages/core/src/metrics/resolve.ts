import { createRequire } from 'node:module';
import { ApiserverTokenConfigError } from '../errors.js';
import { openTelemetryTarget } from './opentelemetry.js';
import type { MeterLike, MetricsOptions, PrometheusRegistryLike } from './options.js';
import { type PromClientModule, prometheusTarget } from './prometheus.js';
import type { MetricsTarget } from './target.js';

const PROM_CLIENT = 'prom-client';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Loads prom-client synchronously (construction is synchronous), from this package's location. */
function loadPromClient(field: string): PromClientModule {
  // `__filename` exists in the CommonJS build, `import.meta.url` in the ESM one.
  const here = typeof __filename === 'string' ? __filename : import.meta.url;
  let module: unknown;
  try {
    module = createRequire(here)(PROM_CLIENT);
  } catch (error) {
    throw new ApiserverTokenConfigError(
      field,
      `needs the optional peer dependency \`${PROM_CLIENT}\`, which cannot be loaded ` +
        `(${(error as Error)?.message?.split('\n')[0] ?? String(error)}): npm install ${PROM_CLIENT}@15, ` +
        'or pass { meter } (an OpenTelemetry Meter) instead',
    );
  }
  const client = module as Partial<PromClientModule>;
  if (typeof client.Counter !== 'function' || typeof client.Histogram !== 'function' || !client.register) {
    throw new ApiserverTokenConfigError(
      field,
      `\`${PROM_CLIENT}\` does not export Counter, Gauge, Histogram and register (version 15 is supported)`,
    );
  }
  return client as PromClientModule;
}

function isRegistry(value: unknown): value is PrometheusRegistryLike {
  return (
    isObject(value) &&
    typeof value.registerMetric === 'function' &&
    typeof value.getSingleMetric === 'function' &&
    typeof value.metrics === 'function'
  );
}

function isMeter(value: unknown): value is MeterLike {
  return (
    isObject(value) &&
    typeof value.createHistogram === 'function' &&
    typeof value.createObservableCounter === 'function' &&
    typeof value.createObservableGauge === 'function'
  );
}

const SHAPE =
  "must be true (prom-client's default registry), { registry } (a prom-client Registry) or { meter } (an OpenTelemetry Meter)";

/**
 * Where the metrics go, or undefined when they are off (`undefined` or `false`). Fails at
 * construction on a wrong shape or a missing peer dependency.
 */
export function resolveMetrics(option: unknown): MetricsTarget | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) {
    const client = loadPromClient('metrics');
    return prometheusTarget(client, client.register, 'metrics');
  }
  if (!isObject(option)) throw new ApiserverTokenConfigError('metrics', `${SHAPE}, got ${typeof option}`);
  const keys = Object.keys(option);
  const unknown = keys.find((key) => key !== 'registry' && key !== 'meter');
  if (unknown !== undefined) {
    throw new ApiserverTokenConfigError(`metrics.${unknown}`, `unknown option: ${SHAPE}`);
  }
  if (keys.length !== 1) throw new ApiserverTokenConfigError('metrics', `${SHAPE}; not both`);
  const { registry, meter } = option as { registry?: unknown; meter?: unknown };
  if (keys[0] === 'registry') {
    if (!isRegistry(registry)) {
      throw new ApiserverTokenConfigError(
        'metrics.registry',
        'must be a prom-client Registry (new Registry() or register from prom-client 15)',
      );
    }
    return prometheusTarget(loadPromClient('metrics.registry'), registry, 'metrics.registry');
  }
  if (!isMeter(meter)) {
    throw new ApiserverTokenConfigError(
      'metrics.meter',
      "must be an OpenTelemetry Meter (metrics.getMeter('my-webhook') of @opentelemetry/api 1.x)",
    );
  }
  return openTelemetryTarget(meter);
}

export type { MetricsOptions };
