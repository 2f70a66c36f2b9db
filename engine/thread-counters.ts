// What each HTTP thread counts for /metrics and the admin stats: requests
// and responses by route, the buy latency histogram, the buys it refused per
// item, and its event-loop lag. Each thread writes only its own arrays, in
// shared memory, with no lock and no Atomics (a counter has one writer);
// the main thread sums them over the threads when it is asked. A sum read
// while a thread writes may miss that thread's last increment, which the
// next scrape has.

import { SIGNAL_FIELDS } from './bot-signals';
import { ITEMS_MAX } from './constants';
import { REFUSAL_FIELDS } from './item-catalog';
import { LAG_FIELDS, LagMonitor } from './lag-monitor';
import { LATENCY_FIELDS, LatencyHistogram } from './latency-histogram';
import { RESPONSE_OUTCOMES, ResponseCounts, ROUTE_NAMES } from './response-counts';

/** One HTTP thread's counters, as views on shared memory that cross to its worker as they are. */
export interface ThreadCounterViews {
  /** ResponseCounts.requests: ROUTE_NAMES.length. */
  requests: Float64Array;
  /** ResponseCounts.responses: ROUTE_NAMES.length * RESPONSE_OUTCOMES.length. */
  responses: Float64Array;
  /** LatencyHistogram.fields: LATENCY_FIELDS. */
  latency: Float64Array;
  /** ItemCatalog.refusals: ITEMS_MAX * REFUSAL_FIELDS, 12 MB. */
  refusals: Float64Array;
  /** LagMonitor.fields: LAG_FIELDS. */
  lag: Float64Array;
  /** BotSignals.counts: ITEMS_MAX * SIGNAL_FIELDS, 5.6 MB, mapped as items are signalled. */
  signals: Float64Array;
}

function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(length * Float64Array.BYTES_PER_ELEMENT));
}

export function createThreadCounterViews(): ThreadCounterViews {
  return {
    requests: sharedFloat64(ROUTE_NAMES.length),
    responses: sharedFloat64(ROUTE_NAMES.length * RESPONSE_OUTCOMES.length),
    latency: sharedFloat64(LATENCY_FIELDS),
    refusals: sharedFloat64(ITEMS_MAX * REFUSAL_FIELDS),
    lag: sharedFloat64(LAG_FIELDS),
    signals: sharedFloat64(ITEMS_MAX * SIGNAL_FIELDS),
  };
}

/** The counting objects of one HTTP thread, over its views. */
export function threadCounters(views: ThreadCounterViews, shedLagMs: number): {
  counts: ResponseCounts; latency: LatencyHistogram; lag: LagMonitor;
} {
  return {
    counts: new ResponseCounts(views.requests, views.responses),
    latency: new LatencyHistogram(views.latency),
    lag: new LagMonitor(shedLagMs, views.lag),
  };
}

/** Element-wise sum of the same array over every thread. */
function sum(arrays: readonly Float64Array[]): Float64Array {
  const total = new Float64Array(arrays[0]!.length);
  for (const array of arrays) for (let i = 0; i < array.length; i++) total[i] = total[i]! + array[i]!;
  return total;
}

/** The HTTP threads' counters as one engine's, read at scrape time. */
export class SummedCounters {
  constructor(private readonly threads: readonly ThreadCounterViews[]) {}

  /** Each thread's refusal counters (ItemCounters sums one item's slots over them). */
  get refusals(): readonly Float64Array[] {
    return this.threads.map((views) => views.refusals);
  }

  /** Each thread's bot-signal counters (SignalReport sums one item's slots over them). */
  get signals(): readonly Float64Array[] {
    return this.threads.map((views) => views.signals);
  }

  requests(): Float64Array {
    return sum(this.threads.map((views) => views.requests));
  }

  responses(): Float64Array {
    return sum(this.threads.map((views) => views.responses));
  }

  latency(): LatencyHistogram {
    return new LatencyHistogram(sum(this.threads.map((views) => views.latency)));
  }

  /** The most lagging thread's lag, ms. */
  lagMs(): number {
    return Math.max(...this.threads.map((views) => new LagMonitor(0, views.lag).lagMs));
  }

  /** Whether any thread is shedding buys. */
  shedding(): boolean {
    return this.threads.some((views) => new LagMonitor(0, views.lag).shedding);
  }
}
