// Start-up, signals and shutdown of the engine process.
//
// Start-up: check the configuration, take the data directory's pid lock,
// replay the write-behind log into SQLite, merge the sale file (keeping what
// is already sold), load the shards, start the persistence worker, listen.
// SIGUSR2 writes a snapshot; SIGTERM and SIGINT stop accepting, answer and
// flush everything in flight, drain the log into SQLite and exit 0.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import uWS from 'uWebSockets.js';
import { databaseFile, fileDefinitionOf, openDatabase, readBans, readItems, readMeta, setFileDefinition, upsertItem, writeMeta, type Db, type StoredItem } from '../persistence/database';
import { checkAgainstSales } from './sale-rules';
import { Challenges, challengeSecretOf } from './challenge';
import { InFlightUsers } from './in-flight-users';
import { SalePushes } from './sale-pushes';
import { BanList, parseRange } from './ban-list';
import { TokenBucketTable } from './rate-limiter';
import { LagMonitor } from './lag-monitor';
import { Persister } from '../persistence/persister';
import { catchUpLog, logDirectory } from '../persistence/recovery';
import { PROGRESS_FIELDS } from '../persistence/write-behind-log';
import { checkLimits, ITEMS_MAX, ITEM_ROW_MAX } from './constants';
import { ConfigError, helpText, parseConfig, type EngineConfig } from './config';
import type { HttpContext } from './http-context';
import { createHttpApp } from './http-server';
import { LatencyHistogram } from './latency-histogram';
import { createMetrics, metricsHandler } from './metrics';
import { ResponseCounts } from './response-counts';
import { InlineShards } from './inline-shards';
import { ItemCatalog } from './item-catalog';
import { demoSale, readSaleFile, SaleDefinitionError, type ItemDefinition } from './sale-definition';
import { COUNTER, COUNTER_FIELDS } from './shard';
import { ShardAnswerer } from './shard-answerer';
import { loadItemBook, SETTING_FIELDS } from './item-book';
import type { ShardDispatcher } from './shard-dispatcher';
import { localIndexOf, shardOf } from './shard-dispatcher';
import { loadShard, type ShardSetup } from './shard-loader';
import { FAULT_ENV } from './shard-worker';
import { Settlement } from './settlement';
import { loadStaticFiles } from './static-files';
import { pruneSnapshots, snapshotBuffers, snapshotJob, writeSnapshotInThread } from './snapshot';
import { CoalescedRuns } from './coalesced-runs';
import { UserTokenVerifier } from './user-token';
import { WorkerShards } from './worker-shards';

class StartupError extends Error {}

function shardCountOf(config: EngineConfig): number {
  return Math.max(1, config.workers);
}

/** One engine per data directory: a second one would write the same log and database. */
function takePidLock(dataDir: string): string {
  const file = path.join(dataDir, 'engine.pid');
  try {
    const pid = Number(fs.readFileSync(file, 'utf8'));
    if (pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new StartupError(`another engine (pid ${pid}) is using ${dataDir}`);
      } catch (error) {
        if (error instanceof StartupError) throw error;
      }
    }
  } catch (error) {
    if (error instanceof StartupError) throw error;
  }
  fs.writeFileSync(file, `${process.pid}\n`);
  return file;
}

/**
 * Merges sale items into the database; an item's stock may not drop below
 * the units already held. An item the file describes exactly as the last
 * time it was loaded is left alone, so a restart with the same file keeps
 * what admins changed since (restock, pause); an edited item takes the
 * file's definition.
 */
function applySale(db: Db, items: ItemDefinition[], source: string, nowMs: number): void {
  const existing = new Map(readItems(db).map((item) => [item.id, item]));
  db.transaction(() => {
    items.forEach((item, index) => {
      const definition = JSON.stringify(item);
      if (fileDefinitionOf(db, item.id) === definition) return;
      const stored = existing.get(item.id);
      if (stored) checkAgainstSales(db, stored, item, `${source}: item "${item.id}" (items[${index}])`);
      upsertItem(db, item, nowMs);
      setFileDefinition(db, item.id, definition);
    });
  })();
}

function loadItems(db: Db, config: EngineConfig, log: pino.Logger): StoredItem[] {
  const now = Date.now();
  if (config.saleFile !== null) {
    applySale(db, readSaleFile(config.saleFile), config.saleFile, now);
    log.info({ saleFile: config.saleFile }, 'sale file loaded');
  } else if (readItems(db).length === 0) {
    const demo = demoSale(now, config.demoStartSec);
    applySale(db, demo, 'demo sale', now);
    log.warn({ items: demo.map((i) => i.id), startsAt: new Date(demo[0]!.startsAt).toISOString() }, 'DEMO SALE: no --sale file and an empty database, so the embedded demo sale runs');
  }
  const items = readItems(db);
  if (items.length > ITEMS_MAX) throw new StartupError(`${items.length} items is more than the ${ITEMS_MAX} the engine holds`);
  for (const item of items) if (item.row > ITEM_ROW_MAX) throw new StartupError(`item ${item.id}: row ${item.row} is past ${ITEM_ROW_MAX}`);
  return items;
}

function secretOf(db: Db, configured: string | null, key: string): string {
  if (configured !== null) return configured;
  const stored = readMeta(db, key);
  if (stored !== null) return stored;
  const fresh = crypto.randomBytes(32).toString('base64url');
  writeMeta(db, key, fresh);
  return fresh;
}

interface Engine {
  shards: ShardDispatcher;
  persister: Persister;
  db: Db;
  catalog: ItemCatalog;
  ctx: HttpContext;
  listenSocket: uWS.us_listen_socket | null;
  pidFile: string;
  settlement: Settlement;
  pushes: SalePushes;
  /** SIGUSR2 and POST /admin/snapshot: one at a time, each caller served by a run begun after its request. */
  snapshots: CoalescedRuns<{ path: string; pausedMs: number }>;
}

async function startShards(config: EngineConfig, db: Db, items: StoredItem[], bootId: number, progress: SharedArrayBuffer, answerer: ShardAnswerer, left: SharedArrayBuffer, settings: SharedArrayBuffer,
  inFlight: InFlightUsers, log: pino.Logger): Promise<ShardDispatcher> {
  const shardCount = shardCountOf(config);
  // One counters array for all shards; each writes only its own items' slots.
  const counters = new SharedArrayBuffer(ITEMS_MAX * COUNTER_FIELDS * 8);
  const setups: ShardSetup[] = Array.from({ length: shardCount }, (_, index) => ({
    index, logDir: logDirectory(config.dataDir), bootId, fsync: config.fsync, items: [], left, progress,
    counters, settings,
  }));
  items.forEach((item, globalIndex) => {
    const setup = setups[shardOf(globalIndex, shardCount)]!;
    if (setup.items.length !== localIndexOf(globalIndex, shardCount)) throw new Error('shard item order broken');
    setup.items.push({ item, globalIndex });
  });
  if (config.workers === 0) {
    const settingsView = new Float64Array(settings);
    return new InlineShards(loadShard(setups[0]!, db), answerer, new Int32Array(left), config.ringSlots, (item, index) => loadItemBook(db, item, index, settingsView), inFlight);
  }
  return WorkerShards.start(setups, config.dataDir, config.ringSlots, answerer, new Int32Array(left), log, inFlight);
}

async function start(config: EngineConfig, log: pino.Logger): Promise<Engine> {
  checkLimits(config.ringSlots);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const pidFile = takePidLock(config.dataDir);
  const db = openDatabase(config.dataDir, { fsync: config.fsync });
  const replay = catchUpLog(db, logDirectory(config.dataDir), config.fsync);
  log.info({ ...replay, database: databaseFile(config.dataDir) }, 'write-behind log replayed into SQLite');
  const items = loadItems(db, config, log);
  const ticketSecret = secretOf(db, config.ticketSecret, 'ticket_secret');
  const demoUserSecret = config.userSecret === null ? crypto.randomBytes(32).toString('base64url') : null;
  if (process.env[FAULT_ENV]) log.warn({ [FAULT_ENV]: process.env[FAULT_ENV] }, 'FAULT INJECTION is set: a shard worker will throw on purpose (tests only)');
  if (demoUserSecret !== null) log.warn('DEMO MODE: FLASH_USER_SECRET is not set; tokens are signed with a random per-boot secret and GET /api/demo/token hands them out');
  const bootId = Date.now();
  const shardCount = shardCountOf(config);
  const progress = new SharedArrayBuffer(shardCount * PROGRESS_FIELDS * 4);
  const left = new SharedArrayBuffer(ITEMS_MAX * 4);
  const settings = new SharedArrayBuffer(ITEMS_MAX * SETTING_FIELDS * 8);
  const catalog = new ItemCatalog(items, ticketSecret, new Int32Array(left), new Float64Array(settings));
  const latency = new LatencyHistogram();
  const answerer = new ShardAnswerer(catalog, latency);
  let engine: Engine | null = null;
  const persister = new Persister({ dataDir: config.dataDir, logDir: logDirectory(config.dataDir), bootId, shardCount, fsync: config.fsync, progress }, log,
    () => { process.exitCode = 1; if (engine) void stop(engine, log, 'persister died'); else process.exit(1); });
  await persister.start();
  // Every buy in flight holds a ring slot (workers) or a deferred-answer slot (inline): that bounds the set.
  const inFlight = new InFlightUsers(shardCount * config.ringSlots);
  const shards = await startShards(config, db, items, bootId, progress, answerer, left, settings, inFlight, log);
  const ctx: HttpContext = {
    catalog, verifier: new UserTokenVerifier(config.userSecret ?? demoUserSecret!),
    staticFiles: loadStaticFiles(path.join(__dirname, '..', '..', 'static')), demoUserSecret, closing: false,
    latency, counts: new ResponseCounts(),
    threadsAlive: () => persister.alive && shards.shardsAlive().every(Boolean),
    bans: loadBans(db), trustedProxyHeader: config.trustedProxyHeader,
    lag: new LagMonitor(config.shedLagMs),
    rateUser: config.rateUserPerSec === 0 ? null : new TokenBucketTable(config.rateUserPerSec, config.rateUserBurst),
    rateAddress: config.rateAddressPerSec === 0 ? null : new TokenBucketTable(config.rateAddressPerSec, config.rateAddressBurst),
    rateExempt: config.rateExempt === null ? [] : config.rateExempt.split(',').map((range) => parseRange(range.trim())),
    inFlight, challenges: new Challenges(challengeSecretOf(ticketSecret), config.challengeThinkMs, config.challengeTtlSec * 1000),
    maxUrlBytes: config.maxUrlBytes, maxHeaderBytes: config.maxHeaderBytes,
  };
  const snapshots = new CoalescedRuns(() => (engine === null ? Promise.reject(new Error('still starting')) : takeSnapshot(engine, config.dataDir, config.snapshotKeep, log)));
  const admin = config.adminToken === null ? null : {
    token: config.adminToken, catalog, shards, db, persister, log, bans: ctx.bans,
    snapshot: () => snapshots.request(),
  };
  if (admin === null) log.info('admin API disabled: FLASH_ADMIN_TOKEN is not set');
  const { requests: routeCounts, responses: responseCounts } = ctx.counts;
  const metrics = metricsHandler(createMetrics({ catalog, shards, persister, latency, routeCounts, responseCounts, lag: ctx.lag }));
  let pushes: SalePushes | null = null;
  const { app, channel } = createHttpApp(ctx, shards, admin, metrics, {
    connectionsMax: config.wsMaxConnections, perAddressMax: config.wsMaxPerAddress, idleSeconds: config.wsIdleSec, onOpen: (ws) => pushes?.subscribe(ws),
  });
  pushes = new SalePushes(app, catalog, channel.sockets, (item, delayMs, clients, publishMs) => log.info({ item, delayMs, clients, publishMs: Number(publishMs.toFixed(2)) }, 'start pushed'));
  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => (socket ? resolve(socket) : reject(new StartupError(`cannot listen on ${config.host}:${config.port}`))));
  });
  ctx.lag.start();
  const settlement = new Settlement(config.dataDir, db, catalog, shards.counters, persister, log);
  settlement.start();
  engine = { shards, persister, db, catalog, ctx, listenSocket, pidFile, settlement, pushes, snapshots };
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  log.info({ host: config.host, port, workers: config.workers, items: items.length, fsync: config.fsync, dataDir: config.dataDir, cpus: os.availableParallelism() }, 'listening');
  return engine;
}

/** The bans kept in the database, as the buy path checks them. */
function loadBans(db: Db): BanList {
  const bans = new BanList();
  for (const ban of readBans(db)) {
    if (ban.kind === 'user') bans.banUser(Number(ban.value));
    else bans.banRange(ban.value);
  }
  return bans;
}

let stopping = false;

function totalOf(counters: Float64Array, counter: number): number {
  let total = 0;
  for (let at = counter; at < counters.length; at += COUNTER_FIELDS) total += counters[at]!;
  return total;
}

async function stop(engine: Engine, log: pino.Logger, reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, 'stopping: no new connections; answering and flushing what is in flight');
  engine.ctx.closing = true;
  if (engine.listenSocket) uWS.us_listen_socket_close(engine.listenSocket);
  engine.listenSocket = null;
  engine.settlement.stop();
  engine.pushes.stop();
  engine.ctx.lag.stop();
  // A snapshot being written is finished, not left as a .tmp file; none starts after this.
  await engine.snapshots.close();
  await engine.shards.close();
  const applied = await engine.persister.drain();
  engine.db.close();
  fs.rmSync(engine.pidFile, { force: true });
  log.info({ ordersWon: totalOf(engine.shards.counters, COUNTER.won), recordsApplied: applied }, 'stopped: every acknowledged order is in SQLite');
  log.flush();
  process.exit(process.exitCode ?? 0);
}

async function takeSnapshot(engine: Engine, dataDir: string, keep: number, log: pino.Logger): Promise<{ path: string; pausedMs: number }> {
  const takenAt = Date.now();
  const started = performance.now();
  const shards = await engine.shards.snapshot();
  const job = snapshotJob(dataDir, takenAt, shards, engine.catalog.items, engine.catalog.deleted, (id) => fileDefinitionOf(engine.db, id));
  const file = await writeSnapshotInThread(job, shards.flatMap(snapshotBuffers));
  const removed = pruneSnapshots(dataDir, keep, path.basename(file));
  if (removed.length > 0) log.info({ removed, keep }, 'old snapshots removed');
  const pausedMs = Math.max(...shards.map((s) => s.pausedMs));
  log.info({ path: file, pausedMs: Number(pausedMs.toFixed(3)), totalMs: Number((performance.now() - started).toFixed(1)) }, 'snapshot written');
  return { path: file, pausedMs: Number(pausedMs.toFixed(3)) };
}

export async function main(argv: readonly string[]): Promise<void> {
  let config: EngineConfig | null;
  try {
    config = parseConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`flash-sale engine: ${error.message}\n`);
    process.exit(2);
  }
  if (config === null) {
    process.stdout.write(helpText());
    return;
  }
  const log = pino({ level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
  let engine: Engine;
  try {
    engine = await start(config, log);
  } catch (error) {
    if (error instanceof SaleDefinitionError || error instanceof StartupError) {
      log.fatal(error.message);
      process.stderr.write(`flash-sale engine: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  process.on('SIGTERM', () => void stop(engine, log, 'SIGTERM'));
  process.on('SIGINT', () => void stop(engine, log, 'SIGINT'));
  process.on('SIGUSR2', () => void engine.snapshots.request().catch((error: Error) => log.error({ err: error }, 'snapshot failed')));
}
