// Small order statistics over plain number arrays.

/** Value at quantile q (0..1) of an ascending-sorted array (nearest rank). */
export function quantileSorted(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Median, min and max of a list of numbers. */
export function spread(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { median, min: sorted[0], max: sorted[n - 1] };
}

/**
 * Paired ratio: `ratio(a, b)` for each round `r` of two interleaved rows
 * (`a` = the row's round, `b` = the reference's round of the same pass), then the median, so that
 * a burst of noise spoils one pair rather than the whole column.
 */
export function pairedRatio(rounds, referenceRounds, ratio) {
  return pairedSpread(rounds, referenceRounds, ratio).median;
}

/** {@link pairedRatio} with the min and max of the per-round ratios: the spread to show beside it. */
export function pairedSpread(rounds, referenceRounds, ratio) {
  return spread(rounds.map((round, r) => ratio(round, referenceRounds[r])));
}

/** The order in which round `r` visits `list`: A B C, then C B A, …, so drift favours no one. */
export function roundOrder(list, r) {
  return r % 2 === 0 ? list : [...list].reverse();
}

/** p50/p99 of a Float64Array (or array) of latencies, first `count` entries. */
export function latencyPercentiles(samples, count = samples.length) {
  const sorted = Float64Array.from(samples.subarray ? samples.subarray(0, count) : samples.slice(0, count));
  sorted.sort();
  return { p50: quantileSorted(sorted, 0.5), p99: quantileSorted(sorted, 0.99) };
}

/** A growable Float64Array used to record one latency per request without allocation per sample. */
export class SampleBuffer {
  constructor(initial = 1 << 16) {
    this.values = new Float64Array(initial);
    this.length = 0;
  }

  push(value) {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }

  percentiles() {
    return latencyPercentiles(this.values, this.length);
  }
}
