// Buy latency, from the request's arrival in the handler to its answer being
// written, as a cumulative histogram in a typed array: recording is a few
// comparisons and one increment, and the metrics endpoint reads it at scrape
// time (never a library call per buy).

/** Upper bounds in seconds; the last bucket is +Inf. */
export const LATENCY_BOUNDS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
] as const;
const BOUNDS_MS = Float64Array.from(LATENCY_BOUNDS_SECONDS, (s) => s * 1000);

export class LatencyHistogram {
  /** Non-cumulative counts per bucket; index BOUNDS_MS.length is +Inf. */
  readonly counts = new Float64Array(BOUNDS_MS.length + 1);
  sumSeconds = 0;
  count = 0;

  record(milliseconds: number): void {
    let bucket = 0;
    while (bucket < BOUNDS_MS.length && milliseconds > BOUNDS_MS[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.sumSeconds += milliseconds / 1000;
    this.count++;
  }

  /** Cumulative counts per upper bound, as Prometheus wants them. */
  cumulative(): number[] {
    let running = 0;
    return Array.from(this.counts, (n) => (running += n));
  }
}
