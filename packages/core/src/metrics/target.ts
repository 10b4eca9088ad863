import type { MetricsSnapshot } from './snapshot.js';

/** Records one request's verification time, in seconds. */
export interface LatencyRecorder {
  hit(seconds: number): void;
  miss(seconds: number): void;
}

/** A registry or meter the verifier's instruments live in; shared by every verifier given it. */
export interface MetricsTarget {
  readonly latency: LatencyRecorder;
  /** Adds a verifier's counts to the collected series; the returned function takes them off (close). */
  attach(source: () => MetricsSnapshot): () => void;
}
