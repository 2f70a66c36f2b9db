// The bench suite: `npm run bench` (or `npm run bench -- --quick`, or
// `-- --scenario hot-small,read-storm`). It starts everything it needs on
// 127.0.0.1 (engines, the bare endpoint, redis-server and the Redis peer,
// wrk), runs every scenario of bench/scenarios.ts for a bounded time against
// fresh processes, stops them all (also on failure or Ctrl-C), checks every
// run's invariants, and prints one table with the ratios to the bare
// endpoint and to the peer measured in the same run, the targets (targets.ts)
// judged from it, and the cost-growth table. It writes everything to
// bench/results/<time>.json and the latency chart to bench/results/<time>.svg
// and bench/latest.svg. Exit code 1 when any run broke an invariant: its
// numbers are not reported as results.

import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signTokens } from './bench-sale';
import { growthTable, measureGrowth, USERS_NOT_MEASURED, type GrowthRow } from './cost-growth';
import { engineKnowsHttpThreads } from './http-threads';
import { latencyChart } from './latency-chart';
import { redisServerPath, REDIS_PERSISTENCE } from './redis-server-process';
import { integer, mebibytes, notes, percent, resultsTable } from './report-table';
import { summarize } from './result-summary';
import { scenarios as allScenarios, type Scenario, type Variant } from './scenarios';
import { killAllChildren } from './server-process';
import { GROWTH, parseSuiteFlags, type SuiteOptions } from './suite-flags';
import { judgeTargets } from './targets';
import { measureVariant, type RunContext, type VariantResult } from './variant-run';
import { wrkPath } from './wrk-load';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const LATEST_CHART = path.join(ROOT, 'bench', 'latest.svg');

interface Pinning { serverCpus: string | null; generatorCpus: string | null; note: string }

/**
 * With 4 or more cores, servers get the first half and this process (the
 * generator, and wrk which inherits its affinity) the second, so that they
 * do not take each other's cycles. With fewer, pinning would leave one side
 * a single core for several threads: they share the cores, and the report
 * says so.
 */
function pinCores(): Pinning {
  const cores = os.availableParallelism();
  if (cores < 4) {
    return {
      serverCpus: null, generatorCpus: null,
      note: `${cores} cores: generator and servers share the cores (not pinned: nproc < 4), ` +
        `so every server's numbers include competing with its generator`,
    };
  }
  const half = Math.floor(cores / 2);
  const serverCpus = `0-${half - 1}`;
  const generatorCpus = `${half}-${cores - 1}`;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', generatorCpus, String(process.pid)], { stdio: 'ignore' });
  } catch {
    return { serverCpus: null, generatorCpus: null, note: `${cores} cores but taskset failed: not pinned` };
  }
  return {
    serverCpus, generatorCpus,
    note: `${cores} cores: servers pinned to CPUs ${serverCpus}, generators to ${generatorCpus} (taskset)`,
  };
}

function tokenPool(secret: string): (count: number) => string[] {
  let pool: string[] = [];
  // Users 1..count; a larger pool signed later starts with the same users.
  return (count) => {
    if (pool.length < count) pool = [...pool, ...signTokens(secret, count - pool.length, pool.length + 1)];
    return pool.length === count ? pool : pool.slice(0, count);
  };
}

function describeRun(result: VariantResult): string {
  if (result.skipped !== null) return `${result.variant}: ${result.skipped}`;
  if (result.load === null) return `${result.variant}: FAILED: ${result.failures.join('; ')}`;
  const load = result.load;
  const check = result.failures.length === 0 ? 'invariants held' : `INVARIANT FAILED: ${result.failures.join('; ')}`;
  return `${result.variant}: ${integer(load.requestsPerSecondMean)} req/s, ${integer(result.winsPerSecond)} wins/s, `
    + `p50 ${load.latencyP50Ms.toFixed(2)} p99 ${load.latencyP99Ms.toFixed(2)} ms;`
    + ` generator ${percent(load.generatorCpuShare)}, server ${percent(result.serverCpuShare)}, `
    + `peak RSS ${mebibytes(result.peakRssBytes)} MiB; ${check}`;
}

/** Why a variant cannot run on this machine, or null. */
function unavailable(variant: Variant): string | null {
  if (variant.spec.kind === 'peer' && redisServerPath() === null) return 'skipped: redis-server is not installed';
  if (variant.generator === 'wrk' && wrkPath() === null) return 'skipped: wrk is not installed';
  return null;
}

/**
 * The engine's closed-loop capacity for the open-loop runs: hot-large's median
 * so far, else this run's overload point.
 */
function capacity(results: readonly VariantResult[], scenario: string, run: number): number | null {
  const rates = (pick: (result: VariantResult) => boolean): number[] => results
    .filter((result) => pick(result) && result.load !== null && result.failures.length === 0)
    .map((result) => result.load!.requestsPerSecondMean);
  const best = rates((result) => result.scenario === 'hot-large' && result.variant === 'engine w0')
    .sort((a, b) => a - b);
  if (best.length > 0) return best[(best.length - 1) >> 1]!;
  return rates((result) => result.scenario === scenario && result.variant === 'engine w0' && result.run === run)[0]
    ?? null;
}

async function runScenario(scenario: Scenario, options: SuiteOptions, context: RunContext,
  results: VariantResult[]): Promise<void> {
  console.log(`\n${scenario.name}: ${scenario.summary}; ${scenario.connections} connections`);
  const closed = scenario.variants.filter((variant) => variant.rateOfCapacity === undefined);
  const open = scenario.variants.filter((variant) => variant.rateOfCapacity !== undefined);
  for (let run = 1; run <= options.runs; run++) {
    // Each run starts with a different system, so that neither warming the
    // generator's JIT nor drifting machine load favours one system every time.
    const first = (run - 1) % closed.length;
    const order = [...closed.slice(first), ...closed.slice(0, first), ...open];
    for (const variant of order) {
      const reason = unavailable(variant);
      const rate = variant.rateOfCapacity === undefined ? null : capacity(results, scenario.name, run);
      let result: VariantResult;
      if (reason !== null || (variant.rateOfCapacity !== undefined && rate === null)) {
        result = {
          scenario: scenario.name, variant: variant.name, run, skipped: reason ?? 'skipped: no capacity measured',
          warmup: null, load: null, offeredRate: null, winsPerSecond: 0, serverCpuShare: null,
          busiestThreadCpuShare: null, peakRssBytes: null,
          exitCode: null, invariants: null, failures: [],
        };
      } else {
        result = await measureVariant(scenario, variant, context, run,
          rate === null ? null : Math.round(rate * variant.rateOfCapacity!));
      }
      results.push(result);
      console.log(`  run ${run}/${options.runs} ${describeRun(result)}`);
    }
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function machine(pinning: Pinning): Record<string, unknown> {
  return {
    commit: gitCommit(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown', nproc: os.availableParallelism(), totalMemoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()}`, node: process.version, loadAverageAtStart: os.loadavg(),
    pinning: pinning.note,
  };
}

function writeOutputs(stamp: string, report: Record<string, unknown>, svg: string): { json: string; svg: string } {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const json = path.join(RESULTS_DIR, `${stamp}.json`);
  const chart = path.join(RESULTS_DIR, `${stamp}.svg`);
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(chart, svg);
  fs.copyFileSync(chart, LATEST_CHART);
  return { json, svg: chart };
}

/** The HTTP threads of the engines and the bare endpoint, as the report's headings say it. */
function threadsHeading(httpThreads: number): string {
  if (httpThreads === 1) return '1 HTTP thread (engines and bare endpoint)';
  return `${httpThreads} HTTP threads (engines --http-threads ${httpThreads}, "w0" engines run --workers 1; ` +
    `bare endpoint BARE_THREADS=${httpThreads}; the peer has one)`;
}

function printReport(options: SuiteOptions, summaries: ReturnType<typeof summarize>, growth: GrowthRow[] | null,
  pinning: Pinning): void {
  console.log(`\nResults, ${threadsHeading(options.httpThreads)}: medians over ${options.runs} run(s) of ` +
    `${options.durationSeconds} s after ${options.warmupSeconds} s of warm-up; closed loop, pipelining 1.`);
  console.log('"vs bare" / "vs peer": median of each run\'s req/s ratio to the bare endpoint / the Redis peer ' +
    'measured in the same run with the same generator.');
  if (options.compareRoot !== null) {
    console.log(`"vs compare": the same, to the engine built in ${options.compareRoot}, run right after it.`);
  }
  console.log('CPU: share of one core (generator: per generator thread; server: all its processes, ' +
    'redis-server included for the peer). Peak RSS: VmHWM at the end.\n');
  console.log(resultsTable(summaries));
  console.log('\nNotes:');
  console.log(`- ${pinning.note}.`);
  console.log('- Closed loop: each connection waits for its answer before sending again, so latency grows with ' +
    'connections by construction; the "open" rows offer a fixed arrival rate (autocannon overallRate) instead, ' +
    'which autocannon can only approximate: it still waits for an answer per connection, so past capacity it ' +
    'offers less than asked.');
  console.log(`- Redis peer: ${REDIS_PERSISTENCE}; one Lua script per buy (per-user check, decrement, ` +
    `LPUSH of the order), ioredis auto-pipelining, EVALSHA.`);
  console.log('- Engines run with rate limits off (every buy comes from 127.0.0.1, which the address limit of ' +
    '2,000/s would refuse) and with their default shedding (event-loop lag > 200 ms, full rings: 503 overloaded).');
  for (const line of notes(summaries)) console.log(`- ${line}`);
  console.log('\nTargets:');
  for (const target of judgeTargets(summaries)) {
    console.log(`- ${target.verdict.padEnd(7)} ${target.target}: ${target.detail}`);
  }
  if (growth !== null) {
    console.log('\nCost growth (engine --workers 0, one run per point, others at stock 10^7, 1 item, 1,000 users):\n');
    console.log(growthTable(growth));
    console.log(`\n- ${integer(USERS_NOT_MEASURED)} distinct users: not measured ` +
      `(needs ${integer(USERS_NOT_MEASURED)} buys and as many prebuilt requests; past the suite's time bound). ` +
      `"distinct buyers" is how many users of the pool actually won in the run.`);
  }
}

async function main(): Promise<void> {
  const scenarioNames = allScenarios(false).map((scenario) => scenario.name);
  const options = parseSuiteFlags(process.argv.slice(2), scenarioNames);
  if (options === null) return;
  for (const root of [ROOT, ...(options.compareRoot === null ? [] : [options.compareRoot])]) {
    if (options.httpThreads > 1 && !engineKnowsHttpThreads(root)) {
      console.error(`bench: --http-threads ${options.httpThreads}: the engine built in ${root} has no ` +
        `--http-threads flag (one HTTP thread only)`);
      process.exit(2);
    }
  }
  const selected = allScenarios(options.quick, options.compareRoot)
    .filter((scenario) => options.scenarios === null || options.scenarios.includes(scenario.name));
  const withGrowth = options.scenarios === null || options.scenarios.includes(GROWTH);
  const pinning = pinCores();
  const startedAt = new Date();
  const about = machine(pinning);
  console.log(`bench: ${about.cpuModel as string}, nproc ${about.nproc as number}, node ${process.version}; ` +
    `${options.quick ? 'quick' : 'full'} mode${options.fsync ? ', engines with --fsync' : ''}` +
    `${options.compareRoot === null ? '' : `, compared with ${options.compareRoot}`}; ` +
    `${threadsHeading(options.httpThreads)}; ` +
    `scenarios ${[...selected.map((s) => s.name), ...(withGrowth ? [GROWTH] : [])].join(', ')}`);
  if (os.loadavg()[0]! > os.availableParallelism() / 2) {
    console.log(`warning: 1-minute load average is ${os.loadavg()[0]!.toFixed(2)}: something else is busy; ` +
      `ratios hold better than absolute numbers`);
  }
  const userSecret = crypto.randomBytes(32).toString('base64url');
  const context: RunContext = {
    durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds,
    secrets: { userSecret, adminToken: crypto.randomBytes(32).toString('base64url') },
    tokens: tokenPool(userSecret), serverCpus: pinning.serverCpus, generatorWorkers: options.generatorWorkers,
    keepData: options.keepData, fsync: options.fsync, httpThreads: options.httpThreads,
    wrkThreads: options.httpThreads > 1 ? Math.max(1, options.generatorWorkers) : 1,
  };
  const results: VariantResult[] = [];
  for (const scenario of selected) await runScenario(scenario, options, context, results);
  let growth: GrowthRow[] | null = null;
  if (withGrowth) {
    console.log('\ngrowth: throughput and memory against stock, items and distinct users');
    growth = await measureGrowth(context, options.quick);
  }
  const summaries = summarize(selected, results);
  printReport(options, summaries, growth, pinning);
  const failures = [...results, ...(growth ?? []).map((row) => row.result)].flatMap((result) =>
    result.failures.map((why) => `${result.scenario} / ${result.variant}, run ${result.run}: ${why}`));
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const title = `flash-sale bench ${startedAt.toISOString().slice(0, 16)}Z, ${about.cpuModel as string}, ` +
    `nproc ${about.nproc as number}${options.quick ? ', quick' : ''}`;
  const files = writeOutputs(stamp, {
    startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), command: process.argv.slice(2).join(' '),
    machine: about, httpThreads: options.httpThreads, options,
    scenarios: selected.map(({ name, summary, users, connections }) => ({ name, summary, users, connections })),
    summaries, targets: judgeTargets(summaries),
    growth, results, invariantFailures: failures,
  }, latencyChart(summaries, title));
  console.log(`\nfull results: ${path.relative(process.cwd(), files.json)}; ` +
    `chart: ${path.relative(process.cwd(), files.svg)} (copied to bench/latest.svg)`);
  if (failures.length > 0) {
    console.error(`\nINVARIANT FAILED (${failures.length}): these runs are not reported as results.`);
    for (const why of failures) console.error(`  ${why}`);
    process.exitCode = 1;
  } else {
    console.log('invariants held in every run: no oversell, no user over the limit, every acknowledged order ' +
      'in SQLite (or in the peer\'s Redis queue).');
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  killAllChildren();
  process.exit(1);
});
