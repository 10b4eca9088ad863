/**
 * The `metrics` option's shapes. Structural, so that core's public types need neither
 * `prom-client` nor `@opentelemetry/api` installed: a real `Registry` and a real `Meter` satisfy them.
 *
 * @packageDocumentation
 */

/** Label values of one series: a few bounded, enumerated values (never a user, token or path). */
export type MetricAttributes = Readonly<Record<string, string>>;

/** What a `prom-client` `Registry` offers; any `Registry` of prom-client 15 satisfies it. */
export interface PrometheusRegistryLike {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}

/** An OpenTelemetry asynchronous instrument's callback argument. */
export interface ObservableResultLike {
  observe(value: number, attributes?: MetricAttributes): void;
}

/** An OpenTelemetry asynchronous instrument (observable counter or gauge). */
export interface ObservableInstrumentLike {
  addCallback(callback: (result: ObservableResultLike) => void): void;
  removeCallback(callback: (result: ObservableResultLike) => void): void;
}

/** Options of an OpenTelemetry instrument, as `@opentelemetry/api` 1.x takes them. */
export interface InstrumentOptionsLike {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** What an OpenTelemetry `Meter` (`@opentelemetry/api` 1.x) offers; any `Meter` satisfies it. */
export interface MeterLike {
  createHistogram(
    name: string,
    options?: InstrumentOptionsLike,
  ): { record(value: number, attributes?: MetricAttributes): void };
  createObservableCounter(name: string, options?: InstrumentOptionsLike): ObservableInstrumentLike;
  createObservableGauge(name: string, options?: InstrumentOptionsLike): ObservableInstrumentLike;
}

/**
 * Where the verifier's metrics go (the `metrics` option):
 * - `true`: prom-client's default registry (`register`, what `collectDefaultMetrics()` fills).
 * - `{ registry }`: a prom-client `Registry` of yours.
 * - `{ meter }`: an OpenTelemetry `Meter` (`metrics.getMeter('my-webhook')` of `@opentelemetry/api`).
 *
 * Several verifiers may share one registry or meter: their series add up (a closed verifier's
 * counts stay in the totals). `prom-client` (15.x) and `@opentelemetry/api` (1.x) are optional
 * peer dependencies, loaded only when metrics are asked for.
 */
export type MetricsOptions = true | { registry: PrometheusRegistryLike } | { meter: MeterLike };
