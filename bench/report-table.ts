// The text the bench suite prints: the results table (one row per scenario
// and system), the notes that qualify it (generator saturation, per-outcome
// latency under overload, status codes), and a plain-text table formatter
// that the cost-growth table shares. Markdown-compatible, so the same lines
// can be pasted into bench/README.md.

import { GENERATOR_SATURATED_SHARE, type VariantSummary } from './result-summary';

export function formatTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const padded = (cell: string, column: number): string =>
    (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!));
  const line = (cells: readonly string[]): string => `| ${cells.map(padded).join(' | ')} |`;
  const dashes = (width: number, column: number): string =>
    (column < 2 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`);
  const rule = `| ${widths.map(dashes).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export const integer = (value: number): string =>
  (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
export const fixed = (value: number | null, digits: number): string =>
  (value === null || !Number.isFinite(value) ? '' : value.toFixed(digits));
export const percent = (share: number | null): string =>
  (share === null || !Number.isFinite(share) ? 'n/a' : `${(share * 100).toFixed(0)}%`);
export const mebibytes = (bytes: number | null): string => (bytes === null ? 'n/a' : (bytes / 2 ** 20).toFixed(0));

function row(summary: VariantSummary): string[] {
  const head = [summary.scenario, summary.variant];
  if (summary.validRuns === 0) {
    const why = summary.skipped !== null ? 'skipped (notes)' : `FAILED ${summary.failedRuns} run(s)`;
    return [...head, why, '', '', '', '', '', '', '', '', '', '', ''];
  }
  return [
    ...head, integer(summary.requestsPerSecond), summary.winsPerSecond > 0 ? integer(summary.winsPerSecond) : '0',
    fixed(summary.vsBare, 2), fixed(summary.vsPeer, 2), fixed(summary.vsCompare, 2),
    fixed(summary.latencyP50Ms, 2), fixed(summary.latencyP90Ms, 2), fixed(summary.latencyP99Ms, 2),
    fixed(summary.latencyP999Ms, 2),
    percent(summary.generatorCpuShare), percent(summary.serverCpuShare), mebibytes(summary.peakRssBytes),
  ];
}

export function resultsTable(summaries: readonly VariantSummary[]): string {
  const header = ['scenario', 'system', 'req/s', 'wins/s', 'vs bare', 'vs peer', 'vs compare', 'p50 ms', 'p90 ms',
    'p99 ms', 'p99.9 ms', 'gen CPU', 'srv CPU', 'peak RSS MiB'];
  return formatTable(header, summaries.map(row));
}

function latencyLine(label: string, latency: VariantSummary['latencyWon']): string {
  if (latency === null || latency.count === 0) return `${label}: none`;
  return `${label} ${integer(latency.count)}: p50 ${fixed(latency.p50Ms, 2)}, p99 ${fixed(latency.p99Ms, 2)}, ` +
    `p99.9 ${fixed(latency.p999Ms, 2)}, max ${fixed(latency.maxMs, 1)} ms`;
}

/** Lines that qualify the table: saturation, skipped or failed runs, answers, per-outcome latency. */
export function notes(summaries: readonly VariantSummary[]): string[] {
  const lines: string[] = [];
  for (const s of summaries) {
    const name = `${s.scenario} / ${s.variant}`;
    if (s.vsKeysOff !== null) lines.push(`${name}: ${fixed(s.vsKeysOff, 2)} of the req/s without keys, same run`);
    if (s.validRuns > 0 && s.generatorCpuShare >= GENERATOR_SATURATED_SHARE) {
      lines.push(`${name}: the generator (${s.generatorName}) used ${percent(s.generatorCpuShare)} ` +
        `of a core per thread: it saturated, the server may have more to give.`);
    }
    if (s.failedRuns > 0) {
      lines.push(`${name}: ${s.failedRuns} run(s) FAILED the invariant check and are not reported.`);
    }
    if (s.skipped !== null) lines.push(`${name}: ${s.skipped}`);
    if (s.validRuns === 0) continue;
    const answers = Object.entries(s.statusCounts).map(([code, count]) => `${code}: ${integer(count)}`).join(', ');
    const offered = s.offeredRate === null ? '' : `; offered ${integer(s.offeredRate)} req/s`;
    lines.push(`${name}: answers ${answers}; errors ${s.errors}, timeouts ${s.timeouts}${offered}`);
    if (s.latencyWon !== null) {
      lines.push(`${name}: ${latencyLine('wins', s.latencyWon)}; ${latencyLine('refusals', s.latencyRefused)}`);
    }
  }
  return lines;
}
