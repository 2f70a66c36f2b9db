// Turns the runs of the bench suite into one row per scenario and system:
// medians over the runs whose invariants held, and the ratios to the bare
// endpoint and to the peer as the median of each run's own ratio (both
// measured in that run, with the same generator), so that drifting machine
// load cancels out of the ratio. Runs that failed their check are counted
// and named, never averaged in.

import type { LatencyPercentiles } from './latency-recorder';
import type { Scenario } from './scenarios';
import type { VariantResult } from './variant-run';

/** A generator thread past this share of a core is taken as the bottleneck. */
export const GENERATOR_SATURATED_SHARE = 0.9;

export interface VariantSummary {
  scenario: string;
  variant: string;
  validRuns: number;
  failedRuns: number;
  skipped: string | null;
  requestsPerSecond: number;
  winsPerSecond: number;
  offeredRate: number | null;
  vsBare: number | null;
  vsPeer: number | null;
  /** Against the same system built from the --compare checkout, same run. */
  vsCompare: number | null;
  /** A keyed variant (Idempotency-Key on every buy) against the same system without keys, same run. */
  vsKeysOff: number | null;
  latencyP50Ms: number;
  latencyP90Ms: number;
  latencyP99Ms: number;
  latencyP999Ms: number;
  latencyWon: LatencyPercentiles | null;
  latencyRefused: LatencyPercentiles | null;
  /**
   * Per generator thread: a share above GENERATOR_SATURATED_SHARE means the generator,
   * not the server, may be the limit.
   */
  generatorCpuShare: number;
  generatorName: string;
  serverCpuShare: number | null;
  peakRssBytes: number | null;
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const valid = (result: VariantResult): boolean =>
  result.failures.length === 0 && result.skipped === null && result.load !== null;

/** The median over runs of this variant's req/s over the baseline's in the same run. */
function ratio(results: readonly VariantResult[], all: readonly VariantResult[],
  baseline: string | null): number | null {
  if (baseline === null) return null;
  const ratios = results.flatMap((result) => {
    const base = all.find((other) =>
      other.scenario === result.scenario && other.variant === baseline && other.run === result.run);
    return base !== undefined && valid(base)
      ? [result.load!.requestsPerSecondMean / base.load!.requestsPerSecondMean]
      : [];
  });
  return ratios.length === 0 ? null : median(ratios);
}

function sumCounts(results: readonly VariantResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const result of results) {
    for (const [code, count] of Object.entries(result.load!.statusCounts)) counts[code] = (counts[code] ?? 0) + count;
  }
  return counts;
}

/** The run whose req/s is the median, for figures that only make sense together (per-outcome latency). */
function medianRun(results: readonly VariantResult[]): VariantResult {
  const sorted = [...results].sort((a, b) => a.load!.requestsPerSecondMean - b.load!.requestsPerSecondMean);
  return sorted[(sorted.length - 1) >> 1]!;
}

function summarizeVariant(scenario: Scenario, name: string, all: readonly VariantResult[]): VariantSummary {
  const variant = scenario.variants.find((candidate) => candidate.name === name)!;
  const mine = all.filter((result) => result.scenario === scenario.name && result.variant === name);
  const good = mine.filter(valid);
  const of = (pick: (result: VariantResult) => number): number => median(good.map(pick));
  const serverShares = good.map((result) => result.serverCpuShare).filter((share): share is number => share !== null);
  const rss = good.map((result) => result.peakRssBytes).filter((bytes): bytes is number => bytes !== null);
  const middle = good.length > 0 ? medianRun(good) : null;
  return {
    scenario: scenario.name, variant: name, validRuns: good.length,
    failedRuns: mine.filter((result) => result.failures.length > 0).length,
    skipped: mine.find((result) => result.skipped !== null)?.skipped ?? null,
    requestsPerSecond: of((result) => result.load!.requestsPerSecondMean),
    winsPerSecond: of((result) => result.winsPerSecond),
    offeredRate: mine[0]?.offeredRate ?? null,
    vsBare: ratio(good, all, variant.bare), vsPeer: ratio(good, all, variant.peer),
    vsCompare: ratio(good, all, variant.compare ?? null), vsKeysOff: ratio(good, all, variant.keysOff ?? null),
    latencyP50Ms: of((result) => result.load!.latencyP50Ms), latencyP90Ms: of((result) => result.load!.latencyP90Ms),
    latencyP99Ms: of((result) => result.load!.latencyP99Ms), latencyP999Ms: of((result) => result.load!.latencyP999Ms),
    latencyWon: middle?.load!.latencyWon ?? null, latencyRefused: middle?.load!.latencyRefused ?? null,
    generatorCpuShare: of((result) => result.load!.generatorCpuShare / result.load!.generatorThreads),
    generatorName: variant.generator,
    serverCpuShare: serverShares.length === good.length && good.length > 0 ? median(serverShares) : null,
    peakRssBytes: rss.length > 0 ? Math.max(...rss) : null,
    statusCounts: sumCounts(good), errors: good.reduce((sum, result) => sum + result.load!.errors, 0),
    timeouts: good.reduce((sum, result) => sum + result.load!.timeouts, 0),
  };
}

export function summarize(scenarios: readonly Scenario[], results: readonly VariantResult[]): VariantSummary[] {
  return scenarios.flatMap((scenario) =>
    scenario.variants.map((variant) => summarizeVariant(scenario, variant.name, results)));
}
