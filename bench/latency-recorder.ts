// Latency percentiles for the generators that autocannon and wrk do not
// cover: answers split by outcome (wins apart from refusals, for overload)
// and the WebSocket client. A fixed array of counters, allocated once, so
// that recording a million answers costs no memory growth and no sort:
// exact to the microsecond below 1 ms, then buckets 1 % wide up to 60 s,
// which is finer than the noise of a shared 2-core machine.

/** Below this many microseconds each microsecond has its own counter. */
const LINEAR_US_MAX = 1_000;
/** Relative width of a bucket above LINEAR_US_MAX. */
const BUCKET_GROWTH = 1.01;
/** Longest latency kept apart; slower answers count in the last bucket. */
const LATENCY_US_MAX = 60_000_000;
const LOG_GROWTH = Math.log(BUCKET_GROWTH);
// 1,000 linear + about 1,100 logarithmic counters: under 9 KiB per recorder.
const BUCKET_COUNT = LINEAR_US_MAX + Math.ceil(Math.log(LATENCY_US_MAX / LINEAR_US_MAX) / LOG_GROWTH) + 1;

export interface LatencyPercentiles {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export class LatencyRecorder {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private maxUs = 0;

  record(latencyMs: number): void {
    const us = Math.max(0, Math.min(LATENCY_US_MAX, Math.round(latencyMs * 1000)));
    this.counts[bucketOf(us)]! += 1;
    this.total += 1;
    if (us > this.maxUs) this.maxUs = us;
  }

  percentiles(): LatencyPercentiles {
    return {
      count: this.total, p50Ms: this.at(0.5), p90Ms: this.at(0.9), p99Ms: this.at(0.99), p999Ms: this.at(0.999),
      maxMs: this.maxUs / 1000,
    };
  }

  /** The upper edge of the bucket holding the given fraction of answers, in ms; 0 when empty. */
  private at(fraction: number): number {
    if (this.total === 0) return 0;
    const wanted = Math.ceil(this.total * fraction);
    let seen = 0;
    for (let index = 0; index < BUCKET_COUNT; index++) {
      seen += this.counts[index]!;
      if (seen >= wanted) return Math.min(upperUsOf(index), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }
}

function bucketOf(us: number): number {
  if (us < LINEAR_US_MAX) return us;
  return Math.min(BUCKET_COUNT - 1, LINEAR_US_MAX + Math.floor(Math.log(us / LINEAR_US_MAX) / LOG_GROWTH));
}

function upperUsOf(index: number): number {
  if (index < LINEAR_US_MAX) return index;
  return LINEAR_US_MAX * BUCKET_GROWTH ** (index - LINEAR_US_MAX + 1);
}
