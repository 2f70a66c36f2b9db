// Starts one system of the comparison as fresh processes on 127.0.0.1 and
// gives the suite one handle to all of them: the bare endpoint, the Redis
// peer (redis-server plus bench/redis-peer.ts) or the engine (with a fresh
// data directory). The handle reads their CPU time and peak memory, reads
// their state after the load, and stops every process it started, in
// reverse order, whatever happened in between.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Sale } from './bench-sale';
import { writeSale } from './bench-sale';
import { bareThreadEnv, engineThreadArgs } from './http-threads';
import type { ItemStats } from './order-invariants';
import { startRedisServer, type RedisServer } from './redis-server-process';
import { peakRssBytes, processCpuMs, startServer, type ServerProcess } from './server-process';

const ROOT = path.resolve(__dirname, '..', '..');
/** Longest one request of the set-up or the state read may take. */
const REQUEST_TIMEOUT_MS = 10_000;

export type SystemKind = 'bare' | 'peer' | 'engine';

export interface SystemSpec {
  kind: SystemKind;
  /** Engine only: --workers. */
  workers?: number;
  /** Engine only: --fsync. */
  fsync?: boolean;
  /** Peer only: remember sold-out items in the process (PEER_SOLD_OUT_MEMO). */
  soldOutMemo?: boolean;
  /** Engine only: the checkout whose built engine runs (bench --compare); this one when absent. */
  root?: string;
  /**
   * Engine and bare: HTTP threads sharing the port (engine --http-threads, bare BARE_THREADS); 1 when absent.
   * With more than 1 an engine's --workers 0 becomes 1 (bench/http-threads.ts). The peer has one.
   */
  httpThreads?: number;
}

export interface RunningSystem {
  port: number;
  /** Every process of the system: CPU and memory are summed over them. */
  pids: number[];
  dataDir: string;
  redisPort: number | null;
  engine: ServerProcess | null;
  /** Stops every process; the engine's exit code (null if killed), 0 for the others. */
  stop: () => Promise<number | null>;
}

export interface Secrets { userSecret: string; adminToken: string }

/** The environment a server gets: ours without FLASH_* settings that would change the scenario. */
function cleanEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FLASH_')) env[key] = value;
  return env;
}

const portFromJson = (line: Record<string, unknown>): number | null =>
  (typeof line.port === 'number' && line.msg === undefined ? line.port : null);

async function startEngine(spec: SystemSpec, dataDir: string, saleFile: string, secrets: Secrets,
  cpus: string | null): Promise<RunningSystem> {
  // Rate limits off: the generators send thousands of buys per second per
  // user from one address, which the limits exist to refuse. Shedding on
  // event-loop lag and the bounded rings stay at their defaults.
  const env = {
    ...cleanEnvironment(), FLASH_USER_SECRET: secrets.userSecret, FLASH_ADMIN_TOKEN: secrets.adminToken,
    FLASH_LOG_LEVEL: 'info', FLASH_RATE_USER_PER_SEC: '0', FLASH_RATE_ADDRESS_PER_SEC: '0',
  };
  const root = spec.root ?? ROOT;
  const args = ['engine/start', '--data', dataDir, '--sale', saleFile,
    ...await engineThreadArgs(root, spec.httpThreads ?? 1, spec.workers ?? 0), ...(spec.fsync ? ['--fsync'] : [])];
  const engine = await startServer({ args, env, cwd: root, cpus },
    (line) => (line.msg === 'listening' && typeof line.port === 'number' ? line.port : null));
  return { port: engine.port, pids: [engine.pid], dataDir, redisPort: null, engine, stop: () => engine.stop() };
}

async function startPeer(spec: SystemSpec, dataDir: string, saleFile: string, secrets: Secrets,
  cpus: string | null): Promise<RunningSystem> {
  const redis: RedisServer = await startRedisServer(cpus);
  let peer: ServerProcess;
  try {
    const env = {
      ...cleanEnvironment(), FLASH_USER_SECRET: secrets.userSecret, PEER_REDIS_PORT: String(redis.process.port),
      PEER_SALE_FILE: saleFile, PEER_SOLD_OUT_MEMO: spec.soldOutMemo ? '1' : '0',
    };
    peer = await startServer({ args: [path.join(__dirname, 'redis-peer.js')], env, cwd: ROOT, cpus }, portFromJson);
  } catch (error) {
    await redis.stop();
    throw error;
  }
  const stop = async (): Promise<number | null> => {
    try {
      await peer.stop();
    } finally {
      await redis.stop();
    }
    return 0;
  };
  return {
    port: peer.port, pids: [peer.pid, redis.process.pid], dataDir, redisPort: redis.process.port, engine: null, stop,
  };
}

async function startBare(spec: SystemSpec, dataDir: string, saleFile: string,
  cpus: string | null): Promise<RunningSystem> {
  const threads = await bareThreadEnv(spec.httpThreads ?? 1);
  const bare = await startServer({
    args: [path.join(__dirname, 'bare-server.js')],
    env: { ...cleanEnvironment(), BARE_SALE_FILE: saleFile, ...threads }, cwd: ROOT, cpus,
  }, portFromJson);
  // The bare server exits on SIGTERM without anything to flush; its code is not a finding.
  return {
    port: bare.port, pids: [bare.pid], dataDir, redisPort: null, engine: null, stop: async () => (await bare.stop(), 0),
  };
}

/** Starts the system on a fresh temporary directory holding the sale file. */
export async function startSystem(spec: SystemSpec, sale: Sale, secrets: Secrets,
  cpus: string | null): Promise<RunningSystem> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `flash-bench-${spec.kind}-`));
  const saleFile = writeSale(dataDir, sale);
  try {
    if (spec.kind === 'engine') return await startEngine(spec, dataDir, saleFile, secrets, cpus);
    if (spec.kind === 'peer') return await startPeer(spec, dataDir, saleFile, secrets, cpus);
    return await startBare(spec, dataDir, saleFile, cpus);
  } catch (error) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** A per-process reading summed over the system's processes, or null if any could not be read. */
function sumOverProcesses(system: RunningSystem, read: (pid: number) => number | null): number | null {
  let total = 0;
  for (const pid of system.pids) {
    const value = read(pid);
    if (value === null) return null;
    total += value;
  }
  return total;
}

/** CPU milliseconds used so far by all of the system's processes, or null off Linux. */
export const systemCpuMs = (system: RunningSystem): number | null => sumOverProcesses(system, processCpuMs);

/** Peak resident memory of the system's processes, summed, or null off Linux. Read before stopping. */
export const systemPeakRssBytes = (system: RunningSystem): number | null => sumOverProcesses(system, peakRssBytes);

export function getText(port: number, urlPath: string, authorization?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers = authorization === undefined ? {} : { authorization };
    const request = http.get({
      host: '127.0.0.1', port, path: urlPath, headers, timeout: REQUEST_TIMEOUT_MS,
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${urlPath}: ${response.statusCode} ${body.slice(0, 200)}`));
        } else {
          resolve(body);
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${urlPath} timed out`)));
    request.on('error', reject);
  });
}

/** Every started item's buy path, from /sale.js (the same script on all three systems). */
export async function readBuyPaths(port: number): Promise<Map<string, string>> {
  const script = await getText(port, '/sale.js');
  const json = script.slice(script.indexOf('{'), script.lastIndexOf('}') + 1);
  const { items } = JSON.parse(json) as { items: { id: string; buyPath?: string }[] };
  return new Map(items.filter((item) => item.buyPath !== undefined).map((item) => [item.id, item.buyPath!]));
}

/** The engine's per-item state over the admin API. */
export async function readEngineStats(port: number, adminToken: string): Promise<ItemStats[]> {
  const body = await getText(port, '/admin/stats', `Bearer ${adminToken}`);
  return (JSON.parse(body) as { items: ItemStats[] }).items;
}
