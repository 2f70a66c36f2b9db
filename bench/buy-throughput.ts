// End-to-end buy throughput: how many `POST /api/buy/:id/:ticket` a real
// engine process answers per second, and at what latency, compared in the
// same run with a bare uWebSockets.js endpoint (bench/bare-server.ts) that
// answers the same request with a fixed body. The ratio to the bare endpoint
// is the number to watch: it is what the engine's own work costs (token
// check, shard decision, write-behind log, SQLite via the persister), with
// the HTTP stack, the machine and the load generator factored out.
//
// Scenario "hot item, large stock": one item that started a second ago, a
// stock of 10,000,000 and a per-user limit of 65,535 (the engine's maximum),
// bought by a pool of user tokens, so nearly every answer is a win and every
// win goes through the log and into SQLite. Each run measures the bare
// endpoint and then the engine with each --workers-list value, each a fresh
// process (and a fresh data directory), each loaded with autocannon for the
// same duration and connections after an uncounted warm-up. After each engine
// run the engine is stopped with SIGTERM and its SQLite file is checked
// against the answers counted (bench/order-invariants.ts); a broken
// invariant is printed loudly and the benchmark exits 1.
//
//   node dist/bench/buy-throughput.js [--duration S] [--connections N] [--runs K]
//        [--workers-list 0,2] [--users N] [--warmup S] [--tokens prebuilt|setup-request]
//        [--generator autocannon|wrk] [--keep-data] [--quick]
//
// The default generator is autocannon, in this process. One autocannon
// process is one JavaScript thread and tops out near one core's worth of
// requests; when its CPU share nears 100 % the table says the generator
// saturated, and --generator wrk (bench/wrk-load.ts) repeats the measurement
// with a C generator as a cross-check.
//
// Results: a table of medians on stdout, everything in bench/results/<time>.json.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseFlags, type BenchOptions } from './bench-flags';
import { measureBare, measureEngine, type LoadRunner, type SystemResult } from './bench-systems';
import { runLoad, type TokenMode } from './load-generator';
import { runWrkLoad, wrkPath } from './wrk-load';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

interface Summary {
  system: string;
  requestsPerSecondMedian: number;
  ratioToBareMedian: number | null;
  latencyP50MsMedian: number;
  latencyP99MsMedian: number;
  non2xxTotal: number;
  errorsTotal: number;
  generatorCpuShareMedian: number;
  serverCpuShareMedian: number | null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function signToken(secret: string, userId: number, expiresSeconds: number): string {
  const payload = `v1.${userId}.${expiresSeconds}`;
  return `${payload}.${crypto.createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

function summarize(runs: SystemResult[][]): Summary[] {
  const names = ['bare', ...runs[0]!.map((result) => result.system).filter((name) => name !== 'bare')];
  return names.map((system) => {
    const results = runs.map((run) => run.find((result) => result.system === system)!);
    const ratios = runs.map((run, index) => results[index]!.load.requestsPerSecondMean / run.find((result) => result.system === 'bare')!.load.requestsPerSecondMean);
    const serverShares = results.map((result) => result.serverCpuShare).filter((share): share is number => share !== null);
    return {
      system,
      requestsPerSecondMedian: median(results.map((result) => result.load.requestsPerSecondMean)),
      ratioToBareMedian: system === 'bare' ? null : median(ratios),
      latencyP50MsMedian: median(results.map((result) => result.load.latencyP50Ms)),
      latencyP99MsMedian: median(results.map((result) => result.load.latencyP99Ms)),
      non2xxTotal: results.reduce((sum, result) => sum + result.load.non2xx, 0),
      errorsTotal: results.reduce((sum, result) => sum + result.load.errors + result.load.timeouts, 0),
      generatorCpuShareMedian: median(results.map((result) => result.load.generatorCpuShare)),
      serverCpuShareMedian: serverShares.length === runs.length ? median(serverShares) : null,
    };
  });
}

function percent(share: number | null): string {
  return share === null ? 'n/a' : `${(share * 100).toFixed(0)}%`;
}

function printTable(summaries: Summary[], options: BenchOptions): void {
  const header = ['system', 'req/s', 'vs bare', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'generator CPU', 'server CPU'];
  const rows = summaries.map((s) => [
    s.system, Math.round(s.requestsPerSecondMedian).toLocaleString('en-US'), s.ratioToBareMedian === null ? '1.00' : s.ratioToBareMedian.toFixed(2),
    s.latencyP50MsMedian.toFixed(1), s.latencyP99MsMedian.toFixed(1), String(s.non2xxTotal), String(s.errorsTotal),
    percent(s.generatorCpuShareMedian), percent(s.serverCpuShareMedian),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(`\nMedians over ${options.runs} run(s) of ${options.durationSeconds} s, ${options.connections} connections, pipelining 1;`);
  console.log('"vs bare" is the median of each run\'s ratio to the bare endpoint measured in that run; CPU is a share of one core.\n');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  for (const s of summaries) {
    if (s.generatorCpuShareMedian >= 0.9) console.log(`note: ${s.system}: ${options.generator} used ${percent(s.generatorCpuShareMedian)} of a core: the generator saturated, the server may have more to give.`);
  }
}

function describeMachine(): Record<string, unknown> {
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    availableParallelism: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()}`,
    loadAverage: os.loadavg(),
  };
}

function printPreamble(command: string, machine: Record<string, unknown>, options: BenchOptions): void {
  console.log(`command: ${command}`);
  console.log(`machine: ${machine.cpuModel as string}, ${machine.availableParallelism as number} cores available; node ${process.version}`);
  const load = os.loadavg()[0]!;
  if (load > os.availableParallelism() / 2) console.log(`warning: 1-minute load average is ${load.toFixed(2)}: something else is busy, numbers will be low`);
  const rotation: Record<TokenMode, string> = {
    prebuilt: 'one prebuilt request per user, each connection cycling through all of them',
    'setup-request': 'a setupRequest hook that sets the next token on every request',
  };
  const wrk = wrkPath();
  if (options.generator === 'wrk') {
    console.log(`load: wrk (${wrk}), one thread, bench/wrk-buy.lua rotating ${options.users} user tokens from requests prebuilt per user`);
  } else {
    console.log(`load: autocannon in this process; ${options.users} user tokens rotated with ${rotation[options.tokenMode]} (--tokens ${options.tokenMode})`);
    console.log(wrk === null ? 'wrk is not installed: no cross-check with --generator wrk possible' : `wrk is installed (${wrk}): cross-check with --generator wrk`);
  }
  console.log(`systems: bare, ${options.workersList.map((workers) => `engine --workers ${workers}${options.fsync ? ' --fsync' : ''}`).join(', ')}, each run starting with the next; ${options.warmupSeconds} s warm-up each, not counted\n`);
}

function writeResults(report: Record<string, unknown>): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  // ISO 8601 with ':' and '.' as '-', which every file system accepts.
  const file = path.join(RESULTS_DIR, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

async function runAll(options: BenchOptions, tokens: string[], runLoad: LoadRunner, userSecret: string): Promise<SystemResult[][]> {
  const runs: SystemResult[][] = [];
  for (let run = 1; run <= options.runs; run++) {
    const systems: (() => Promise<SystemResult>)[] = [
      () => measureBare(options, tokens, runLoad, run),
      ...options.workersList.map((workers) => () => measureEngine(options, tokens, runLoad, userSecret, workers, run)),
    ];
    // Each run starts with a different system, so that neither warming the
    // generator's JIT nor drifting machine load favours one system every time.
    const first = (run - 1) % systems.length;
    const order = [...systems.slice(first), ...systems.slice(0, first)];
    console.log(`run ${run}/${options.runs}`);
    const results: SystemResult[] = [];
    for (const measureSystem of order) results.push(await measureSystem());
    runs.push(results);
  }
  return runs;
}

/** Gives `body` the generator's runner; for wrk, with the token pool in a temporary file while it runs. */
async function withLoadRunner<T>(options: BenchOptions, tokens: string[], body: (runner: LoadRunner) => Promise<T>): Promise<T> {
  if (options.generator === 'autocannon') return body(runLoad);
  if (wrkPath() === null) throw new Error('--generator wrk: wrk is not installed');
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-bench-tokens-'));
  const tokensFile = path.join(directory, 'tokens.txt');
  fs.writeFileSync(tokensFile, `${tokens.join('\n')}\n`);
  try {
    return await body((load) => runWrkLoad(load, tokensFile));
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = parseFlags(process.argv.slice(2));
  if (options === null) return;
  const command = `node ${path.relative(process.cwd(), process.argv[1]!) || process.argv[1]} ${process.argv.slice(2).join(' ')}`.trim();
  const machine = describeMachine();
  printPreamble(command, machine, options);
  const userSecret = crypto.randomBytes(32).toString('base64url');
  const expiresSeconds = Math.floor(Date.now() / 1000) + 24 * 3600;
  const tokens = Array.from({ length: options.users }, (_, index) => signToken(userSecret, index + 1, expiresSeconds));
  const startedAt = new Date().toISOString();
  const runs = await withLoadRunner(options, tokens, (runner) => runAll(options, tokens, runner, userSecret));
  const summaries = summarize(runs);
  printTable(summaries, options);
  const failures = runs.flat().flatMap((result) => (result.invariants?.failures ?? []).map((why) => `${result.system}, run ${result.run}: ${why}`));
  const file = writeResults({ startedAt, finishedAt: new Date().toISOString(), command, node: process.version, machine, options, summaries, runs, invariantFailures: failures });
  console.log(`\nfull results: ${path.relative(process.cwd(), file)}`);
  if (failures.length > 0) {
    console.error(`\nINVARIANT FAILED (${failures.length}):`);
    for (const why of failures) console.error(`  ${why}`);
    process.exitCode = 1;
  } else {
    console.log('invariants held in every engine run: orders match won answers, none over stock, none over the per-user limit, ids unique.');
  }
}

main().catch((error: unknown) => {
  console.error(`buy-throughput: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exit(1);
});
