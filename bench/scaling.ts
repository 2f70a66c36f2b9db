// How the engine's req/s grows with HTTP threads, against the bare
// uWebSockets.js endpoint on the same number of threads (issue 13's scaling
// table). For each thread count t it measures the suite's hot-small and
// hot-large scenarios (bench/scenarios.ts) on
//   bare    bench/bare-server.ts with BARE_THREADS=t (t apps, one port)
//   engine  engine/start --http-threads t --workers W (default W = 1: a hot
//           item is decided by one shard thread whatever the workers, so more
//           would sit idle; the same W for every t, t = 1 included, so that
//           the speed-up column compares like with like. --workers 0, today's
//           inline shape, is possible for t = 1 only and is the suite's row)
// through the suite's own measureVariant (bench/variant-run.ts): fresh
// processes per run, warm-up, the measured phase, every run's invariants
// checked (a failed run is reported and left out of the medians). The
// generator is wrk (G threads) when installed, else autocannon (one thread:
// then the generator, not the server, is the limit past a thread or two).
//
//   node dist/bench/scaling.js [--max-threads T | --threads 1,2,4,8] [--runs R] [--seconds S]
//     [--warmup W] [--workers N] [--connections C] [--generator-threads G] [--budget-seconds B]
//
// Printed per scenario: threads, bare req/s, engine req/s, engine/bare (the
// median of each run's own ratio), the engine's speed-up over its own t = 1
// median, server CPU microseconds per request (all the process's threads,
// from /proc/<pid>/stat over the measured phase) and the busiest single
// thread's share of a core (from /proc/<pid>/task: a thread near 100 % is
// the ceiling; with more HTTP threads that is the hot item's shard thread
// or the persistence thread). Written to bench/results/scaling-<time>.json.
//
// Time: each measurement takes about W + S seconds plus 2-4 s to start,
// stop and check the server, and there are 4 per thread count and run, so
// the whole is about threads x R x 4 x (W + S + 3) seconds. It stops by
// itself: before each measurement it checks the budget (--budget-seconds,
// default 480), and past it the rest is reported as not measured. On a
// 16-core machine, within about 8 minutes:
//   node dist/bench/scaling.js --threads 1,2,4,8,12,16 --runs 2 --seconds 4
// (6 x 2 x 4 x 8 s = 384 s), or every t from 1 to 16 with --runs 1 --seconds 3.
//
// Pinning: with 4 or more cores, this process and wrk (the generator) get
// the last G cores and the servers the rest, with taskset; a thread count
// above the servers' cores is marked, since its threads share cores. On
// fewer than 4 cores nothing is pinned and the servers compete with wrk.

import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signTokens } from './bench-sale';
import { engineKnowsHttpThreads, HTTP_THREADS_MAX, workersFor } from './http-threads';
import { fixed, formatTable, integer, percent } from './report-table';
import { median } from './result-summary';
import { scenarios, type GeneratorName, type Scenario, type Variant } from './scenarios';
import { killAllChildren } from './server-process';
import { measureVariant, type RunContext, type VariantResult } from './variant-run';
import { wrkPath } from './wrk-load';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const SCENARIOS = ['hot-small', 'hot-large'];
/** Connections per server thread, so that SO_REUSEPORT's hash leaves no thread with too few. */
const CONNECTIONS_PER_THREAD = 32;
/** At least the suite's best point (BEST_POINT_CONNECTIONS), so that t = 1 is the suite's shape. */
const CONNECTIONS_MIN = 100;
/** Starting, stopping and checking one server, before a measurement has been timed. */
const OVERHEAD_SECONDS_GUESS = 3;

interface Flags {
  threads: number[];
  runs: number;
  seconds: number;
  warmupSeconds: number;
  workers: number;
  /** 0: CONNECTIONS_PER_THREAD per thread, at least CONNECTIONS_MIN. */
  connections: number;
  generatorThreads: number;
  budgetSeconds: number;
}

const USAGE = `Usage: node dist/bench/scaling.js [flags]
  --max-threads T        thread counts 1..T (default: the cores, at most ${HTTP_THREADS_MAX})
  --threads A,B,...      these thread counts instead (e.g. 1,2,4,8,16)
  --runs R               runs per point; medians are reported (default 1)
  --seconds S            measured seconds per run (default 3)
  --warmup S             uncounted warm-up seconds before each (default 1)
  --workers N            the engine's --workers at every thread count (default 1; 0 becomes 1 above 1 thread)
  --connections C        connections (default ${CONNECTIONS_PER_THREAD} per thread, at least ${CONNECTIONS_MIN})
  --generator-threads G  wrk threads, and cores given to the generator on 4+ cores (default: a quarter of the cores)
  --budget-seconds B     stop measuring past B seconds and report the rest as not measured (default 480)
`;

const INTEGER_FLAGS: Record<string, { key: keyof Flags; min: number; max: number }> = {
  '--max-threads': { key: 'threads', min: 1, max: HTTP_THREADS_MAX },
  '--runs': { key: 'runs', min: 1, max: 10 },
  '--seconds': { key: 'seconds', min: 1, max: 60 },
  '--warmup': { key: 'warmupSeconds', min: 0, max: 10 },
  '--workers': { key: 'workers', min: 0, max: 64 },
  '--connections': { key: 'connections', min: 1, max: 10_000 },
  '--generator-threads': { key: 'generatorThreads', min: 1, max: 64 },
  '--budget-seconds': { key: 'budgetSeconds', min: 10, max: 3600 },
};

function fail(message: string): never {
  process.stderr.write(`scaling: ${message}\n${USAGE}`);
  process.exit(2);
}

function wholeNumber(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || !/^[0-9]+$/.test(raw)) fail(`${flag} needs a whole number`);
  const value = Number(raw);
  if (value < min || value > max) fail(`${flag}: ${value} is outside ${min}..${max}`);
  return value;
}

function parseFlags(argv: readonly string[]): Flags | null {
  const cores = os.availableParallelism();
  const flags: Flags = {
    threads: range(Math.min(cores, HTTP_THREADS_MAX)), runs: 1, seconds: 3, warmupSeconds: 1, workers: 1,
    connections: 0, generatorThreads: Math.max(1, Math.floor(cores / 4)), budgetSeconds: 480,
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE);
      return null;
    }
    if (flag === '--threads') {
      const raw = argv[++index] ?? '';
      const list = raw.split(',').map((part) => wholeNumber('--threads', part.trim(), 1, HTTP_THREADS_MAX));
      flags.threads = [...new Set(list)].sort((a, b) => a - b);
      continue;
    }
    const spec = INTEGER_FLAGS[flag];
    if (spec === undefined) fail(`unknown flag ${flag}`);
    const value = wholeNumber(flag, argv[++index], spec.min, spec.max);
    if (spec.key === 'threads') flags.threads = range(value);
    else (flags[spec.key] as number) = value;
  }
  return flags;
}

function range(last: number): number[] {
  return Array.from({ length: last }, (_, index) => index + 1);
}

interface Pinning { serverCpus: string | null; serverCores: number; note: string }

/** The generator (this process and wrk, which inherits it) on the last G cores, the servers on the rest. */
function pinCores(generatorThreads: number): Pinning {
  const cores = os.availableParallelism();
  if (cores < 4 || generatorThreads >= cores) {
    return {
      serverCpus: null, serverCores: cores,
      note: `${cores} cores, not pinned (fewer than 4, or the generator asked for all): ` +
        'servers and generator share them',
    };
  }
  const serverCpus = `0-${cores - generatorThreads - 1}`;
  const generatorCpus = `${cores - generatorThreads}-${cores - 1}`;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', generatorCpus, String(process.pid)], { stdio: 'ignore' });
  } catch {
    return { serverCpus: null, serverCores: cores, note: `${cores} cores but taskset failed: not pinned` };
  }
  return {
    serverCpus, serverCores: cores - generatorThreads,
    note: `${cores} cores: servers pinned to CPUs ${serverCpus}, the generator to ${generatorCpus} (taskset)`,
  };
}

interface Measurement { threads: number; result: VariantResult; wallSeconds: number }

const valid = (result: VariantResult): boolean =>
  result.failures.length === 0 && result.skipped === null && result.load !== null;

const rate = (result: VariantResult): number => result.load!.requestsPerSecondMean;

/** Server CPU microseconds per answered request over the measured phase. */
const cpuMicrosecondsPerRequest = (result: VariantResult): number =>
  (result.serverCpuShare === null ? NaN : (result.serverCpuShare * 1e6) / rate(result));

interface Row {
  scenario: string; threads: number; runs: number; bareRequestsPerSecond: number; engineRequestsPerSecond: number;
  engineOverBare: number; engineSpeedUp: number; bareSpeedUp: number; engineCpuUsPerRequest: number;
  bareCpuUsPerRequest: number; engineBusiestThreadShare: number; generatorCpuShare: number;
}

function summarizeRows(measured: readonly Measurement[], flags: Flags): Row[] {
  const rows: Row[] = [];
  for (const scenario of SCENARIOS) {
    const of = (threads: number, kind: string): VariantResult[] => measured
      .filter((m) => m.threads === threads && m.result.scenario === scenario && m.result.variant === kind
        && valid(m.result)).map((m) => m.result);
    // The speed-up is over the first thread count measured: 1 unless --threads starts higher.
    const engineAtFirst = median(of(flags.threads[0]!, 'engine').map(rate));
    const bareAtFirst = median(of(flags.threads[0]!, 'bare').map(rate));
    for (const threads of flags.threads) {
      const engine = of(threads, 'engine');
      const bare = of(threads, 'bare');
      const perRun = engine.flatMap((e) => bare.filter((b) => b.run === e.run).map((b) => rate(e) / rate(b)));
      rows.push({
        scenario, threads, runs: perRun.length, bareRequestsPerSecond: median(bare.map(rate)),
        engineRequestsPerSecond: median(engine.map(rate)), engineOverBare: median(perRun),
        engineSpeedUp: median(engine.map(rate)) / engineAtFirst, bareSpeedUp: median(bare.map(rate)) / bareAtFirst,
        engineCpuUsPerRequest: median(engine.map(cpuMicrosecondsPerRequest)),
        bareCpuUsPerRequest: median(bare.map(cpuMicrosecondsPerRequest)),
        engineBusiestThreadShare: median(engine.map((r) => r.busiestThreadCpuShare ?? NaN)),
        generatorCpuShare: median([...engine, ...bare]
          .map((r) => r.load!.generatorCpuShare / r.load!.generatorThreads)),
      });
    }
  }
  return rows;
}

function table(rows: readonly Row[], scenario: string, serverCores: number, first: number): string {
  const header = ['scenario', 'threads', 'bare req/s', 'engine req/s', 'engine/bare', `engine speed-up vs ${first}`,
    `bare speed-up vs ${first}`,
    'engine CPU us/req', 'bare CPU us/req', 'engine busiest thread', 'generator CPU/thread', 'runs'];
  return formatTable(header, rows.filter((row) => row.scenario === scenario).map((row) => [
    row.scenario, `${row.threads}${row.threads > serverCores ? ' *' : ''}`,
    row.runs === 0 ? 'not measured' : integer(row.bareRequestsPerSecond),
    integer(row.engineRequestsPerSecond), fixed(row.engineOverBare, 2), fixed(row.engineSpeedUp, 2),
    fixed(row.bareSpeedUp, 2), fixed(row.engineCpuUsPerRequest, 1), fixed(row.bareCpuUsPerRequest, 1),
    percent(row.engineBusiestThreadShare), percent(row.generatorCpuShare), String(row.runs),
  ]));
}

function selectedScenarios(connections: number): Scenario[] {
  return scenarios(false).filter((scenario) => SCENARIOS.includes(scenario.name))
    .map((scenario) => ({ ...scenario, connections }));
}

function variantsFor(generator: GeneratorName, workers: number): Variant[] {
  return [
    { name: 'bare', spec: { kind: 'bare' }, generator, bare: null, peer: null },
    { name: 'engine', spec: { kind: 'engine', workers }, generator, bare: 'bare', peer: null },
  ];
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function tokenPool(secret: string): (count: number) => string[] {
  const pools = new Map<number, string[]>();
  return (count) => {
    if (!pools.has(count)) pools.set(count, signTokens(secret, count));
    return pools.get(count)!;
  };
}

async function measureAll(flags: Flags, pinning: Pinning, generator: GeneratorName,
  deadline: number): Promise<{ measured: Measurement[]; notMeasured: string[] }> {
  const userSecret = crypto.randomBytes(32).toString('base64url');
  const base: Omit<RunContext, 'httpThreads'> = {
    durationSeconds: flags.seconds, warmupSeconds: flags.warmupSeconds,
    secrets: { userSecret, adminToken: crypto.randomBytes(32).toString('base64url') },
    tokens: tokenPool(userSecret), serverCpus: pinning.serverCpus, generatorWorkers: 0, keepData: false,
    fsync: false, wrkThreads: flags.generatorThreads,
  };
  const measured: Measurement[] = [];
  const notMeasured: string[] = [];
  const variants = variantsFor(generator, flags.workers);
  for (const threads of flags.threads) {
    const connections = flags.connections || Math.max(CONNECTIONS_MIN, CONNECTIONS_PER_THREAD * threads);
    for (let run = 1; run <= flags.runs; run++) {
      for (const scenario of selectedScenarios(connections)) {
        // Each run starts with the other system, so that neither always meets a warmer machine.
        const order = run % 2 === 1 ? variants : [...variants].reverse();
        for (const variant of order) {
          const spent = measured.reduce((sum, m) => sum + m.wallSeconds, 0);
          const estimate = measured.length === 0
            ? flags.warmupSeconds + flags.seconds + OVERHEAD_SECONDS_GUESS : spent / measured.length;
          const label = `t=${threads} run ${run} ${scenario.name} ${variant.name}`;
          if (Date.now() + estimate * 1000 > deadline) {
            notMeasured.push(label);
            continue;
          }
          const started = performance.now();
          const result = await measureVariant(scenario, variant, { ...base, httpThreads: threads }, run, null);
          const wallSeconds = (performance.now() - started) / 1000;
          measured.push({ threads, result, wallSeconds });
          console.log(`  ${label}: ${describe(result)} (${wallSeconds.toFixed(1)} s)`);
        }
      }
    }
  }
  return { measured, notMeasured };
}

function describe(result: VariantResult): string {
  if (result.load === null) return `FAILED: ${result.failures.join('; ')}`;
  const check = result.failures.length === 0 ? '' : `; INVARIANT FAILED: ${result.failures.join('; ')}`;
  return `${integer(rate(result))} req/s, p99 ${result.load.latencyP99Ms.toFixed(2)} ms, ` +
    `server ${percent(result.serverCpuShare)}, busiest thread ${percent(result.busiestThreadCpuShare)}, ` +
    `generator ${percent(result.load.generatorCpuShare)}${check}`;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags === null) return;
  if (flags.threads.some((threads) => threads > 1) && !engineKnowsHttpThreads(ROOT)) {
    fail(`the engine built here has no --http-threads flag: only --threads 1 can be measured`);
  }
  const startedAt = new Date();
  const deadline = startedAt.getTime() + flags.budgetSeconds * 1000;
  const generator: GeneratorName = wrkPath() === null ? 'autocannon' : 'wrk';
  const pinning = pinCores(flags.generatorThreads);
  const machine = {
    commit: gitCommit(), cpuModel: os.cpus()[0]?.model ?? 'unknown', nproc: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(), platform: `${os.platform()} ${os.release()}`, node: process.version,
    loadAverageAtStart: os.loadavg(), pinning: pinning.note,
  };
  const generatorLine = generator === 'wrk'
    ? `wrk -t${flags.generatorThreads}` : 'autocannon (one thread: wrk is not installed; the generator is the limit)';
  console.log(`scaling: ${machine.cpuModel}, nproc ${machine.nproc}, node ${process.version}, ` +
    `commit ${machine.commit}; ` +
    `threads ${flags.threads.join(',')}; ${flags.runs} run(s) of ${flags.seconds} s after ${flags.warmupSeconds} s; ` +
    `engine --workers ${flags.workers} (${workersFor(2, flags.workers)} above 1 thread); ${generatorLine}; ` +
    `budget ${flags.budgetSeconds} s; ${pinning.note}`);
  const { measured, notMeasured } = await measureAll(flags, pinning, generator, deadline);
  const rows = summarizeRows(measured, flags);
  for (const scenario of SCENARIOS) {
    console.log(`\n${scenario}: medians over runs; engine/bare is the median of each run's own ratio; ` +
      `speed-up is over the first thread count's median; CPU is the whole server process per request\n`);
    console.log(table(rows, scenario, pinning.serverCores, flags.threads[0]!));
  }
  if (flags.threads.some((threads) => threads > pinning.serverCores)) {
    console.log(`\n* more HTTP threads than the ${pinning.serverCores} cores the servers have: they share cores.`);
  }
  if (notMeasured.length > 0) {
    console.log(`\nnot measured, past the ${flags.budgetSeconds} s budget (${notMeasured.length}): ` +
      `${notMeasured.join(', ')}`);
  }
  const failures = measured.filter((m) => m.result.failures.length > 0).map((m) =>
    `t=${m.threads} ${m.result.scenario} ${m.result.variant} run ${m.result.run}: ${m.result.failures.join('; ')}`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `scaling-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify({
    startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), command: process.argv.slice(2).join(' '),
    machine, flags, generator, rows, notMeasured, invariantFailures: failures,
    results: measured.map((m) => ({ threads: m.threads, wallSeconds: m.wallSeconds, ...m.result })),
  }, null, 2)}\n`);
  console.log(`\nfull results: ${path.relative(process.cwd(), file)}`);
  if (failures.length > 0) {
    console.error(`\nFAILED (${failures.length}), left out of the medians:`);
    for (const why of failures) console.error(`  ${why}`);
    process.exitCode = 1;
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().catch((error: unknown) => {
  console.error(`scaling: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  killAllChildren();
  process.exit(1);
});
