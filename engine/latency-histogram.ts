// Buy latency, from the request's arrival in the handler to its answer being
// written, as a cumulative histogram in a typed array: recording is a few
// comparisons and one increment, and the metrics endpoint reads it at scrape
// time (never a library call per buy).

/** Upper bounds in seconds; the last bucket is +Inf. */
export const LATENCY_BOUNDS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
] as const;
const BOUNDS_MS = Float64Array.from(LATENCY_BOUNDS_SECONDS, (s) => s * 1000);

/** Fields of a histogram's array: one count per bucket (+Inf last), then the sum in seconds and the count. */
export const LATENCY_FIELDS = BOUNDS_MS.length + 3;
const SUM = BOUNDS_MS.length + 1;
const COUNT = BOUNDS_MS.length + 2;

export class LatencyHistogram {
  /**
   * Non-cumulative counts per bucket (index BOUNDS_MS.length is +Inf), then
   * the sum and the count: LATENCY_FIELDS. One writer, its HTTP thread; the
   * array may be shared memory that /metrics reads from another thread.
   */
  constructor(readonly fields: Float64Array = new Float64Array(LATENCY_FIELDS)) {
    if (fields.length !== LATENCY_FIELDS) throw new Error(`a latency histogram has ${LATENCY_FIELDS} fields`);
  }

  record(milliseconds: number): void {
    const fields = this.fields;
    let bucket = 0;
    while (bucket < BOUNDS_MS.length && milliseconds > BOUNDS_MS[bucket]!) bucket++;
    fields[bucket]!++;
    fields[SUM] = fields[SUM]! + milliseconds / 1000;
    fields[COUNT]!++;
  }

  get sumSeconds(): number {
    return this.fields[SUM]!;
  }

  get count(): number {
    return this.fields[COUNT]!;
  }

  /** Cumulative counts per upper bound, as Prometheus wants them. */
  cumulative(): number[] {
    let running = 0;
    return Array.from(this.fields.subarray(0, BOUNDS_MS.length + 1), (n) => (running += n));
  }
}
