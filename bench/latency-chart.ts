// The suite's picture: one SVG, written by hand (no dependency), with a row
// per scenario and system: a bar of requests per second (scaled within the
// scenario, so systems under the same load compare at a glance) and, on a
// logarithmic axis shared by every row, the p50, p90, p99 and p99.9
// latencies as marks joined by a line, so a long tail shows as a long line.

import type { VariantSummary } from './result-summary';

const WIDTH = 1180;
const ROW_HEIGHT = 18;
const SCENARIO_GAP = 26;
const TOP = 70;
const LABEL_X = 8;
const BAR_X = 260;
const BAR_WIDTH = 300;
const AXIS_X = 660;
const AXIS_WIDTH = 500;
/** The latency axis spans 0.05 ms to 5 s: below and above are clamped to its ends. */
const LATENCY_MIN_MS = 0.05;
const LATENCY_MAX_MS = 5_000;
const MARKS = [
  { key: 'latencyP50Ms', label: 'p50', color: '#1b9e77' },
  { key: 'latencyP90Ms', label: 'p90', color: '#7570b3' },
  { key: 'latencyP99Ms', label: 'p99', color: '#d95f02' },
  { key: 'latencyP999Ms', label: 'p99.9', color: '#e7298a' },
] as const;

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function latencyX(ms: number): number {
  const clamped = Math.min(LATENCY_MAX_MS, Math.max(LATENCY_MIN_MS, ms));
  return AXIS_X + (Math.log10(clamped / LATENCY_MIN_MS) / Math.log10(LATENCY_MAX_MS / LATENCY_MIN_MS)) * AXIS_WIDTH;
}

function axis(height: number): string[] {
  const parts: string[] = [];
  for (const ms of [0.1, 1, 10, 100, 1000]) {
    const x = latencyX(ms).toFixed(1);
    parts.push(`<line x1="${x}" y1="${TOP - 8}" x2="${x}" y2="${height - 20}" stroke="#ddd"/>`);
    const label = ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
    parts.push(`<text x="${x}" y="${TOP - 12}" text-anchor="middle" font-size="11">${label}</text>`);
  }
  parts.push(`<text x="${BAR_X}" y="${TOP - 12}" font-size="11">requests per second (bar scaled per scenario)</text>`);
  return parts;
}

function legend(): string {
  return MARKS.map((mark, index) => {
    const x = AXIS_X + index * 90;
    return `<circle cx="${x}" cy="40" r="4" fill="${mark.color}"/>` +
      `<text x="${x + 8}" y="44" font-size="12">${mark.label}</text>`;
  }).join('');
}

function variantRow(summary: VariantSummary, y: number, maxRate: number): string {
  const parts = [`<text x="${LABEL_X + 12}" y="${y + 12}" font-size="12">${escape(summary.variant)}</text>`];
  if (summary.validRuns === 0) {
    const skipped = escape(summary.skipped ?? 'no valid run');
    parts.push(`<text x="${BAR_X}" y="${y + 12}" font-size="12" fill="#999">${skipped}</text>`);
    return parts.join('');
  }
  const width = maxRate > 0 ? (summary.requestsPerSecond / maxRate) * BAR_WIDTH : 0;
  parts.push(`<rect x="${BAR_X}" y="${y + 3}" width="${width.toFixed(1)}" height="${ROW_HEIGHT - 6}" fill="#4a7fb5"/>`);
  const rate = Math.round(summary.requestsPerSecond).toLocaleString('en-US');
  parts.push(`<text x="${BAR_X + width + 4}" y="${y + 12}" font-size="11">${rate}</text>`);
  const xs = MARKS.map((mark) => latencyX(summary[mark.key]));
  parts.push(`<line x1="${xs[0]!.toFixed(1)}" y1="${y + 9}" x2="${xs[3]!.toFixed(1)}" y2="${y + 9}" stroke="#999"/>`);
  MARKS.forEach((mark, index) => parts.push(
    `<circle cx="${xs[index]!.toFixed(1)}" cy="${y + 9}" r="4" fill="${mark.color}">` +
    `<title>${mark.label} ${summary[mark.key]} ms</title></circle>`));
  return parts.join('');
}

export function latencyChart(summaries: readonly VariantSummary[], title: string): string {
  const scenarios = [...new Set(summaries.map((summary) => summary.scenario))];
  const body: string[] = [];
  let y = TOP;
  for (const scenario of scenarios) {
    const rows = summaries.filter((summary) => summary.scenario === scenario);
    const maxRate = Math.max(0, ...rows.filter((row) => row.validRuns > 0).map((row) => row.requestsPerSecond));
    body.push(`<text x="${LABEL_X}" y="${y + 12}" font-size="13" font-weight="bold">${escape(scenario)}</text>`);
    y += ROW_HEIGHT;
    for (const row of rows) {
      body.push(variantRow(row, y, maxRate));
      y += ROW_HEIGHT;
    }
    y += SCENARIO_GAP - ROW_HEIGHT;
  }
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${LABEL_X}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="${LABEL_X}" y="44" font-size="11">medians over the runs; latency axis logarithmic</text>`,
    legend(),
    ...axis(height),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
