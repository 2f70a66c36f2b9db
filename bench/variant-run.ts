// Measures one system (a variant) under one scenario, once: start it fresh,
// ask it for the buy paths, warm it up (not counted), load it for the
// measured duration while reading its CPU time, read its peak memory and its
// state, stop it, and check the invariants against what the generator saw.
// A run whose check fails keeps its numbers in the JSON for diagnosis but is
// never summarized as a result.

import fs from 'node:fs';
import type { Sale } from './bench-sale';
import { runLoad, type LoadOptions, type LoadResult } from './load-generator';
import { checkOrderInvariants, type InvariantReport, type ItemStats } from './order-invariants';
import { checkPeerInvariants } from './peer-invariants';
import type { Scenario, Variant } from './scenarios';
import { threadCpuMs } from './server-process';
import {
  readBuyPaths, readEngineStats, startSystem, systemCpuMs, systemPeakRssBytes, type RunningSystem, type Secrets,
} from './system-under-test';
import { runWrkLoad } from './wrk-load';
import { runWsLoad } from './ws-load';

export interface RunContext {
  durationSeconds: number;
  warmupSeconds: number;
  secrets: Secrets;
  /** The user tokens 1..count (signed once per suite run and count). */
  tokens: (count: number) => string[];
  /** taskset CPU list for servers, null when not pinned. */
  serverCpus: string | null;
  /** autocannon worker threads. */
  generatorWorkers: number;
  keepData: boolean;
  /** Engines run with --fsync. */
  fsync: boolean;
  /** HTTP threads of the engine and of the bare endpoint (bench/http-threads.ts); the peer has one. */
  httpThreads: number;
  /** wrk threads (-t); 1 when absent. */
  wrkThreads?: number;
}

export interface VariantResult {
  scenario: string;
  variant: string;
  run: number;
  /** Why there are no numbers (e.g. the engine has no /ws), or null. */
  skipped: string | null;
  warmup: LoadResult | null;
  load: LoadResult | null;
  /** Open loop: the arrival rate asked of the generator. */
  offeredRate: number | null;
  /** Won answers per second of the measured phase. */
  winsPerSecond: number;
  /** CPU of all the system's processes over the measured phase, as a share of one core. */
  serverCpuShare: number | null;
  /** The busiest thread of the system's first process over the measured phase, as a share of one core. */
  busiestThreadCpuShare: number | null;
  peakRssBytes: number | null;
  exitCode: number | null;
  invariants: InvariantReport | null;
  failures: string[];
}

/**
 * Buys sent but never answered to the generator: one per connection at each
 * phase's end, plus every timeout or error.
 */
function unansweredMax(loaded: { warmup: LoadResult | null; load: LoadResult | null }, connections: number): number {
  const phases = [loaded.warmup, loaded.load].filter((load): load is LoadResult => load !== null);
  return phases.reduce((sum, load) => sum + connections + load.timeouts + load.errors + load.resets, 0);
}

/** Won answers a phase counted: 200 for HTTP and /ws, wrk's whole 2xx/3xx class. */
function wonIn(load: LoadResult | null, scenario: Scenario): number {
  if (load === null || !scenario.buys) return 0;
  return load.statusCounts['200'] ?? load.statusCounts['2xx/3xx'] ?? 0;
}

/** One load phase with the variant's generator; a string when the phase could not run (no /ws). */
async function phase(scenario: Scenario, variant: Variant, load: LoadOptions, tokens: readonly string[],
  buyPaths: Map<string, string>): Promise<LoadResult | string> {
  if (variant.generator === 'autocannon') return runLoad(load);
  if (variant.generator === 'wrk') return runWrkLoad(load);
  const [item, path] = [...buyPaths.entries()][0]!;
  const ticket = path.slice(path.lastIndexOf('/') + 1);
  const outcome = await runWsLoad({
    port: load.port, tokens: tokens.slice(0, scenario.connections), item, ticket, durationSeconds: load.durationSeconds,
  });
  return 'skipped' in outcome
    ? `skipped: ${variant.spec.kind === 'engine' ? 'engine' : variant.spec.kind} has no /ws (${outcome.skipped})`
    : outcome.result;
}

interface Loaded {
  warmup: LoadResult | null; load: LoadResult | null; skipped: string | null; serverCpuShare: number | null;
  busiestThreadCpuShare: number | null;
}

/** The largest growth of one thread's CPU time between two readings, or null without both. */
function busiestThreadMs(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (before === null || after === null) return null;
  let busiest = 0;
  for (const [thread, ms] of after) busiest = Math.max(busiest, ms - (before.get(thread) ?? 0));
  return busiest;
}

async function loadSystem(scenario: Scenario, variant: Variant, context: RunContext, system: RunningSystem,
  offeredRate: number | null): Promise<Loaded> {
  const tokens = context.tokens(scenario.users);
  const buyPaths = await readBuyPaths(system.port);
  const requests = scenario.requests(buyPaths, tokens);
  const base: LoadOptions = {
    port: system.port, requests, connections: scenario.connections, durationSeconds: context.warmupSeconds,
    workers: context.generatorWorkers, wrkThreads: context.wrkThreads ?? 1,
    latencyByOutcome: scenario.latencyByOutcome, ...(offeredRate === null ? {} : { overallRate: offeredRate }),
  };
  let warmup: LoadResult | null = null;
  if (context.warmupSeconds > 0) {
    const result = await phase(scenario, variant, base, tokens, buyPaths);
    if (typeof result === 'string') {
      return { warmup: null, load: null, skipped: result, serverCpuShare: null, busiestThreadCpuShare: null };
    }
    warmup = result;
  }
  const cpuBefore = systemCpuMs(system);
  const threadsBefore = threadCpuMs(system.pids[0]!);
  const wallBefore = performance.now();
  const load = await phase(scenario, variant, { ...base, durationSeconds: context.durationSeconds }, tokens, buyPaths);
  const wallMs = performance.now() - wallBefore;
  const cpuAfter = systemCpuMs(system);
  const busiestMs = busiestThreadMs(threadsBefore, threadCpuMs(system.pids[0]!));
  if (typeof load === 'string') {
    return { warmup, load: null, skipped: load, serverCpuShare: null, busiestThreadCpuShare: null };
  }
  return {
    warmup, load, skipped: null,
    serverCpuShare: cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / wallMs,
    busiestThreadCpuShare: busiestMs === null ? null : busiestMs / wallMs,
  };
}

interface StateBeforeStop {
  engineStats: ItemStats[] | null; peerInvariants: InvariantReport | null; statsError: string | null;
}

/** What must be read while the system still runs: the engine's stats, the peer's Redis. */
async function readState(sale: Sale, system: RunningSystem, context: RunContext, wonAnswers: number,
  inFlightMax: number): Promise<StateBeforeStop> {
  const items = sale.items;
  if (system.engine !== null) {
    try {
      return {
        engineStats: await readEngineStats(system.port, context.secrets.adminToken),
        peerInvariants: null, statsError: null,
      };
    } catch (error) {
      return { engineStats: null, peerInvariants: null, statsError: String(error) };
    }
  }
  if (system.redisPort !== null) {
    const peerInvariants = await checkPeerInvariants({ redisPort: system.redisPort, items, wonAnswers, inFlightMax });
    return { engineStats: null, peerInvariants, statsError: null };
  }
  return { engineStats: null, peerInvariants: null, statsError: null };
}

function engineInvariants(sale: Sale, scenario: Scenario, system: RunningSystem, context: RunContext,
  state: StateBeforeStop, wonAnswers: number, inFlightMax: number): InvariantReport {
  const stopped = system.engine!.lines.find((line) => typeof line.ordersWon === 'number');
  const report = checkOrderInvariants({
    dataDir: system.dataDir, items: sale.items, userCount: context.tokens(scenario.users).length, wonAnswers,
    inFlightMax, engineOrdersWon: stopped === undefined ? null : (stopped.ordersWon as number),
    engineStats: state.engineStats,
  });
  if (state.statsError !== null) report.failures.push(`reading /admin/stats: ${state.statsError}`);
  return report;
}

export async function measureVariant(scenario: Scenario, variant: Variant, context: RunContext, run: number,
  offeredRate: number | null): Promise<VariantResult> {
  const sale = scenario.sale();
  const httpThreads = variant.spec.kind === 'peer' ? 1 : context.httpThreads;
  const system = await startSystem({ ...variant.spec, fsync: context.fsync, httpThreads }, sale, context.secrets,
    context.serverCpus);
  let loaded: Loaded = { warmup: null, load: null, skipped: null, serverCpuShare: null, busiestThreadCpuShare: null };
  let state: StateBeforeStop = { engineStats: null, peerInvariants: null, statsError: null };
  let peakRssBytes: number | null = null;
  let exitCode: number | null = null;
  const failures: string[] = [];
  try {
    loaded = await loadSystem(scenario, variant, context, system, offeredRate);
    peakRssBytes = systemPeakRssBytes(system);
    state = await readState(sale, system, context, wonIn(loaded.warmup, scenario) + wonIn(loaded.load, scenario),
      unansweredMax(loaded, scenario.connections));
  } catch (error) {
    failures.push(`the run failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    exitCode = await system.stop();
  }
  const wonAnswers = wonIn(loaded.warmup, scenario) + wonIn(loaded.load, scenario);
  let invariants = state.peerInvariants;
  if (system.engine !== null && failures.length === 0) {
    invariants = engineInvariants(sale, scenario, system, context, state, wonAnswers,
      unansweredMax(loaded, scenario.connections));
    if (exitCode !== 0) {
      failures.push(`the engine exited with code ${exitCode} after SIGTERM, not 0; ` +
        `stderr: ${system.engine.stderr().trim().slice(-500) || '(empty)'}`);
    }
  }
  failures.push(...(invariants?.failures ?? []));
  if (failures.length > 0 || context.keepData) console.log(`    data kept in ${system.dataDir}`);
  else fs.rmSync(system.dataDir, { recursive: true, force: true });
  const seconds = loaded.load?.durationSeconds ?? 1;
  return {
    scenario: scenario.name, variant: variant.name, run, skipped: loaded.skipped, warmup: loaded.warmup,
    load: loaded.load, offeredRate, winsPerSecond: wonIn(loaded.load, scenario) / seconds,
    serverCpuShare: loaded.serverCpuShare, busiestThreadCpuShare: loaded.busiestThreadCpuShare, peakRssBytes,
    exitCode, invariants, failures,
  };
}
