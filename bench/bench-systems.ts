// The systems bench/buy-throughput.ts compares, each measured the same way:
// start a fresh process, warm it up (not counted), load it for the measured
// duration while reading its CPU time, stop it. The engine additionally gets
// a fresh data directory and sale file, and after it has stopped its SQLite
// file is checked against the answers counted.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { BenchOptions } from './bench-flags';
import type { LoadOptions, LoadResult } from './load-generator';
import { checkOrderInvariants, type InvariantReport } from './order-invariants';
import { processCpuMs, startServer, type ServerProcess } from './server-process';

const ROOT = path.resolve(__dirname, '..', '..');

/** The hot item: nearly every buy wins, so every answer goes through the log and SQLite. */
export const HOT_ITEM = {
  id: 'hot',
  stock: 10_000_000,
  // The engine's maximum (PER_USER_LIMIT_MAX: holdings are 16-bit counts). With 1,000
  // users this allows 65 M wins per engine run, far more than a run can make.
  perUserLimit: 65_535,
} as const;

/** Longest the ticket request may take. */
const TICKET_TIMEOUT_MS = 5_000;

export interface SystemResult {
  system: string;
  run: number;
  warmup: LoadResult | null;
  load: LoadResult;
  /** CPU the server process used (all threads) during the measured phase, or null off Linux. */
  serverCpuMs: number | null;
  /** serverCpuMs over the measured phase's wall time; above 1.0 means more than one core. */
  serverCpuShare: number | null;
  exitCode: number | null;
  /** Engine only: the SQLite check after it stopped. */
  invariants: InvariantReport | null;
  /** Engine only: the numbers of its "stopped" log line. */
  engineStopped: Record<string, unknown> | null;
}

/** Runs one load phase: autocannon in this process, or wrk as a child process. */
export type LoadRunner = (load: LoadOptions) => Promise<LoadResult>;

interface Measured { warmup: LoadResult | null; load: LoadResult; serverCpuMs: number | null; serverCpuShare: number | null }

async function measure(server: ServerProcess, buyPath: string, options: BenchOptions, tokens: readonly string[], runLoad: LoadRunner): Promise<Measured> {
  const base = { port: server.port, path: buyPath, tokens, tokenMode: options.tokenMode, connections: options.connections };
  const warmup = options.warmupSeconds > 0 ? await runLoad({ ...base, durationSeconds: options.warmupSeconds }) : null;
  const cpuBefore = processCpuMs(server.pid);
  const wallBefore = performance.now();
  const load = await runLoad({ ...base, durationSeconds: options.durationSeconds });
  const wallMs = performance.now() - wallBefore;
  const cpuAfter = processCpuMs(server.pid);
  const serverCpuMs = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
  return { warmup, load, serverCpuMs, serverCpuShare: serverCpuMs === null ? null : serverCpuMs / wallMs };
}

function report(result: SystemResult): void {
  const { load } = result;
  const share = (value: number | null): string => (value === null ? 'n/a' : `${(value * 100).toFixed(0)}%`);
  const statuses = Object.entries(load.statusCounts).map(([code, count]) => `${code}: ${count}`).join(', ') || 'none';
  console.log(`  ${result.system.padEnd(20)} ${Math.round(load.requestsPerSecondMean).toLocaleString('en-US').padStart(9)} req/s, p50 ${load.latencyP50Ms} ms, p99 ${load.latencyP99Ms} ms;`
    + ` answers ${statuses}; errors ${load.errors}, timeouts ${load.timeouts}; CPU generator ${share(load.generatorCpuShare)}, server ${share(result.serverCpuShare)}`);
}

/** The bare endpoint, loaded with the same requests (its path has a ticket of the engine's length). */
export async function measureBare(options: BenchOptions, tokens: readonly string[], runLoad: LoadRunner, run: number): Promise<SystemResult> {
  const server = await startServer([path.join(__dirname, 'bare-server.js')], process.env, ROOT, (line) => (typeof line.port === 'number' ? line.port : null));
  let measured: Measured;
  try {
    measured = await measure(server, `/api/buy/${HOT_ITEM.id}/${'t'.repeat(22)}`, options, tokens, runLoad);
  } finally {
    await server.stop();
  }
  // The bare server exits on SIGTERM without anything to flush; its code is not a finding.
  const result: SystemResult = { system: 'bare', run, ...measured, exitCode: 0, invariants: null, engineStopped: null };
  report(result);
  return result;
}

function getJson(port: number, urlPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: TICKET_TIMEOUT_MS }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`GET ${urlPath}: ${response.statusCode} ${body}`));
        else resolve(JSON.parse(body) as Record<string, unknown>);
      });
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${urlPath} timed out`)));
    request.on('error', reject);
  });
}

/** The environment the engine gets: ours without FLASH_* settings that would change the scenario. */
function engineEnvironment(userSecret: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FLASH_')) env[key] = value;
  // Rate limits off: the benchmark measures the buy path with a few users
  // buying far faster than any shopper, which the limits would refuse.
  return { ...env, FLASH_USER_SECRET: userSecret, FLASH_LOG_LEVEL: 'info', FLASH_RATE_USER_PER_SEC: '0', FLASH_RATE_ADDRESS_PER_SEC: '0' };
}

async function startEngine(dataDir: string, workers: number, userSecret: string, fsync: boolean): Promise<ServerProcess> {
  const saleFile = path.join(dataDir, 'sale.json');
  const item = { id: HOT_ITEM.id, name: 'Hot item', price: 1000, stock: HOT_ITEM.stock, perUserLimit: HOT_ITEM.perUserLimit, startsAt: Date.now() - 1000, mode: 'order' };
  fs.writeFileSync(saleFile, JSON.stringify({ items: [item] }));
  const args = ['engine/start', '--port', '0', '--data', dataDir, '--sale', saleFile, '--workers', String(workers), ...(fsync ? ['--fsync'] : [])];
  return startServer(args, engineEnvironment(userSecret), ROOT, (line) => (line.msg === 'listening' && typeof line.port === 'number' ? line.port : null));
}

export async function measureEngine(options: BenchOptions, tokens: readonly string[], runLoad: LoadRunner, userSecret: string, workers: number, run: number): Promise<SystemResult> {
  const system = `engine --workers ${workers}${options.fsync ? ' --fsync' : ''}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-bench-'));
  const server = await startEngine(dataDir, workers, userSecret, options.fsync);
  let measured: Measured;
  let exitCode: number | null = null;
  try {
    const ticket = await getJson(server.port, `/api/items/${HOT_ITEM.id}/ticket`);
    measured = await measure(server, ticket.buyPath as string, options, tokens, runLoad);
  } finally {
    exitCode = await server.stop();
  }
  const engineStopped = server.lines.find((line) => typeof line.ordersWon === 'number') ?? null;
  const wonAnswers = (measured.warmup?.statusCounts['200'] ?? 0) + (measured.load.statusCounts['200'] ?? 0);
  const invariants = checkOrderInvariants({
    dataDir, itemId: HOT_ITEM.id, stock: HOT_ITEM.stock, perUserLimit: HOT_ITEM.perUserLimit, userCount: tokens.length, wonAnswers,
    inFlightMax: options.connections * (measured.warmup === null ? 1 : 2), engineOrdersWon: engineStopped === null ? null : (engineStopped.ordersWon as number),
  });
  if (exitCode !== 0) invariants.failures.push(`the engine exited with code ${exitCode} after SIGTERM, not 0; stderr: ${server.stderr().trim() || '(empty)'}`);
  const result: SystemResult = { system, run, ...measured, exitCode, invariants, engineStopped };
  report(result);
  console.log(`  ${''.padEnd(20)} ${invariants.orders.toLocaleString('en-US')} orders in SQLite from ${invariants.distinctUsers} users (at most ${invariants.ordersPerUserMax} each); exit code ${exitCode}`);
  if (invariants.failures.length > 0 || options.keepData) console.log(`  ${''.padEnd(20)} data kept in ${dataDir}`);
  else fs.rmSync(dataDir, { recursive: true, force: true });
  return result;
}
