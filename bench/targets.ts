// The performance targets, judged from this run's summaries, never assumed:
// each is MET, NOT MET, or n/a when its scenario was not run or had no valid
// run. They are reported, not enforced: a missed target is a finding, a
// broken invariant is a failure (bench-suite exits 1 only for those).

import type { VariantSummary } from './result-summary';

export interface TargetVerdict { target: string; verdict: 'MET' | 'NOT MET' | 'n/a'; detail: string }

/** engine/bare on the hot-item scenarios with --workers 0. */
const BARE_RATIO_MIN = 0.85;
/** engine/peer on every HTTP scenario. */
const PEER_RATIO_MIN = 3;
/** This build against the --compare checkout's: a change may not cost more than this of its throughput. */
const COMPARE_RATIO_MIN = 0.97;
/** Buys with an Idempotency-Key against buys without, hot-large, engine w0, same run (issue 14). */
const KEYED_RATIO_MIN = 0.9;
/** Wins per second under overload, as a share of the best point's. */
const OVERLOAD_WINS_SHARE_MIN = 0.8;

const HTTP_SCENARIOS = ['hot-small', 'hot-large', 'many-items', 'overload', 'read-storm'];

function verdict(target: string, ok: boolean | null, detail: string): TargetVerdict {
  return { target, verdict: ok === null ? 'n/a' : ok ? 'MET' : 'NOT MET', detail };
}

function find(summaries: readonly VariantSummary[], scenario: string, variant: string): VariantSummary | null {
  const found = summaries.find((s) => s.scenario === scenario && s.variant === variant);
  return found !== undefined && found.validRuns > 0 ? found : null;
}

function bareRatios(summaries: readonly VariantSummary[]): TargetVerdict[] {
  return ['hot-small', 'hot-large'].flatMap((scenario) => ['engine w0', 'engine w0 (wrk)'].map((variant) => {
    const s = find(summaries, scenario, variant);
    const ratio = s?.vsBare ?? null;
    return verdict(`${scenario}: ${variant} / bare >= ${BARE_RATIO_MIN}`,
      ratio === null ? null : ratio >= BARE_RATIO_MIN, ratio === null ? 'not measured' : ratio.toFixed(2));
  }));
}

function peerRatios(summaries: readonly VariantSummary[]): TargetVerdict[] {
  return summaries
    .filter((s) => HTTP_SCENARIOS.includes(s.scenario) && s.variant.startsWith('engine') && !s.variant.includes('(wrk)')
      && !s.variant.includes('open') && !s.variant.endsWith('@compare'))
    .map((s) => verdict(`${s.scenario}: ${s.variant} / peer >= ${PEER_RATIO_MIN}`,
      s.vsPeer === null ? null : s.vsPeer >= PEER_RATIO_MIN, s.vsPeer === null ? 'not measured' : s.vsPeer.toFixed(2)));
}

/** Every engine system run beside its --compare twin: none may lose throughput to it. */
function compareRatios(summaries: readonly VariantSummary[]): TargetVerdict[] {
  return summaries
    .filter((s) => s.vsCompare !== null)
    .map((s) => verdict(`${s.scenario}: ${s.variant} / compare >= ${COMPARE_RATIO_MIN}`,
      s.vsCompare! >= COMPARE_RATIO_MIN, s.vsCompare!.toFixed(2)));
}

/**
 * Keys on against keys off on the hot item. Judged only when the keyed run
 * had no 503: a full key table would refuse buys fast and flatter the ratio.
 */
function keyedRatio(summaries: readonly VariantSummary[], keysOff: string, keysOn: string): TargetVerdict {
  const keyed = find(summaries, 'hot-large', keysOn);
  const target = `hot-large: ${keysOn} / ${keysOff} >= ${KEYED_RATIO_MIN}`;
  if (keyed === null || keyed.vsKeysOff === null) return verdict(target, null, 'not measured');
  const refused503 = keyed.statusCounts['503'] ?? 0;
  if (refused503 > 0) return verdict(target, null, `${refused503} answers 503: the key table may have filled`);
  return verdict(target, keyed.vsKeysOff >= KEYED_RATIO_MIN, keyed.vsKeysOff.toFixed(2));
}

/** Overload against the best point, measured with the same generator (autocannon, and wrk where it ran). */
function overload(summaries: readonly VariantSummary[], variant: string): TargetVerdict[] {
  const best = find(summaries, 'hot-large', variant);
  const under = find(summaries, 'overload', variant);
  if (under === null) return [verdict(`overload (${variant})`, null, 'not measured')];
  const share = best === null ? null : under.winsPerSecond / best.winsPerSecond;
  const bad5xx = Object.entries(under.statusCounts).filter(([code]) => code.startsWith('5') && code !== '503');
  return [
    verdict(`overload, ${variant}: wins/s >= ${OVERLOAD_WINS_SHARE_MIN * 100}% of the best point's`,
      share === null ? null : share >= OVERLOAD_WINS_SHARE_MIN,
      share === null
        ? 'hot-large not run'
        : `${Math.round(under.winsPerSecond)} against ${Math.round(best!.winsPerSecond)} wins/s: ` +
          `${(share * 100).toFixed(0)}%`),
    verdict(`overload, ${variant}: no timeouts or connection errors`, under.timeouts === 0 && under.errors === 0,
      `timeouts ${under.timeouts}, errors ${under.errors}`),
    verdict(`overload, ${variant}: no oversell (invariants held)`, under.failedRuns === 0,
      `${under.failedRuns} failed run(s)`),
    'non-2xx/3xx' in under.statusCounts
      ? verdict(`overload, ${variant}: no 5xx other than 503 overloaded`, null,
        `wrk counts ${under.statusCounts['non-2xx/3xx']} non-2xx/3xx answers without their codes`)
      : verdict(`overload, ${variant}: no 5xx other than 503 overloaded`, bad5xx.length === 0,
        bad5xx.length === 0 ? 'none' : bad5xx.map(([code, count]) => `${code}: ${count}`).join(', ')),
  ];
}

export function judgeTargets(summaries: readonly VariantSummary[]): TargetVerdict[] {
  return [...bareRatios(summaries), ...peerRatios(summaries), ...compareRatios(summaries),
    keyedRatio(summaries, 'engine w0', 'engine w0 keyed'),
    keyedRatio(summaries, 'engine w0 (wrk)', 'engine w0 keyed (wrk)'),
    ...overload(summaries, 'engine w0'), ...overload(summaries, 'engine w0 (wrk)')];
}
