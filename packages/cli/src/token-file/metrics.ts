import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { TokenFileRefresher } from './refresher.js';

/**
 * A Prometheus registry describing the refresher, computed at scrape time from its status (no
 * state kept twice). Metric names start with `apiserver_token_`, as the library's.
 */
export function refresherMetrics(refresher: TokenFileRefresher): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labels = ['file', 'audience'] as const;
  const each = (read: (status: ReturnType<TokenFileRefresher['status']>[number]) => number | undefined) =>
    function (this: Gauge<(typeof labels)[number]>) {
      this.reset();
      for (const status of refresher.status()) {
        const value = read(status);
        if (value !== undefined) this.set({ file: status.out, audience: status.audience }, value);
      }
    };
  new Gauge({
    name: 'apiserver_token_tokenfile_expiry_timestamp_seconds',
    help: 'Expiry (exp) of the token the file holds, in seconds since the epoch; alert when it comes close',
    labelNames: labels,
    registers: [registry],
    collect: each((status) => (status.current ? status.current.expiresAt / 1000 : undefined)),
  });
  new Gauge({
    name: 'apiserver_token_tokenfile_renewal_timestamp_seconds',
    help: 'When the next renewal of the file is due, in seconds since the epoch',
    labelNames: labels,
    registers: [registry],
    collect: each((status) => (status.renewAt !== undefined ? status.renewAt / 1000 : undefined)),
  });
  new Gauge({
    name: 'apiserver_token_tokenfile_last_success_timestamp_seconds',
    help: 'Last successful renewal of the file, in seconds since the epoch',
    labelNames: labels,
    registers: [registry],
    collect: each((status) => (status.lastSuccessAt !== undefined ? status.lastSuccessAt / 1000 : undefined)),
  });
  new Gauge({
    name: 'apiserver_token_tokenfile_consecutive_failures',
    help: 'Failed renewals of the file since its last success',
    labelNames: labels,
    registers: [registry],
    collect: each((status) => status.consecutiveFailures),
  });
  // Counters computed from the status are exposed as gauges of a monotonic count, `_total` by convention.
  new Gauge({
    name: 'apiserver_token_tokenfile_renewals_total',
    help: 'TokenRequests for the file, by result',
    labelNames: [...labels, 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const status of refresher.status()) {
        this.set({ file: status.out, audience: status.audience, result: 'success' }, status.renewals);
        this.set({ file: status.out, audience: status.audience, result: 'failure' }, status.failures);
      }
    },
  });
  return registry;
}
