// The engine's lifecycle: what starts, in which order, and how it stops.
//
// start(): check the limits, take the data directory's pid lock, replay the
// write-behind log into SQLite, merge the sale file (keeping what is already
// sold), allocate the shared state, start the persistence worker, put the
// idempotency keys of won orders back, load the shards, build the HTTP app
// and listen.
//
// stop(reason): stop accepting, answer and flush everything in flight, drain
// the log into SQLite, then resolve `stopped` with the exit code. Every
// component that can fail for good (the persistence worker, a shard worker)
// reports it through onFatal, which stops the engine with exit code 1: every
// acknowledged order is in the log, so the next start recovers it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pino from 'pino';
import uWS from 'uWebSockets.js';
import { databaseFile, drawDirectory, logDirectory, pidFile } from '../persistence/data-directory';
import {
  fileDefinitionOf, keyedOrders, openDatabase, readBans, readItems, readMeta, setFileDefinition, upsertItem,
  writeMeta, type Db, type StoredItem,
} from '../persistence/database';
import type { ItemDefinition } from '../persistence/item-definition';
import { Persister } from '../persistence/persister';
import { EventReader } from '../persistence/outcome-events';
import { catchUpLog } from '../persistence/recovery';
import { CatalogChanges } from './catalog-changes';
import { CoalescedRuns } from './coalesced-runs';
import { EventFeed } from './event-feed';
import type { EngineConfig } from './config';
import { checkLimits, ITEMS_MAX, ITEM_ROW_MAX } from './constants';
import { fairKeyOf } from './fair-draw';
import type { HttpContext } from './http-context';
import { HTTP_FAULT_ENV } from './http-thread';
import {
  createCatalog, createHttpContext, createThreadApp, signalReportOf, type HttpThreadSetup,
} from './http-thread-setup';
import { HttpThreads } from './http-threads';
import type { IdempotencyKeys } from './idempotency-keys';
import { InlineShards } from './inline-shards';
import { loadItemBook } from './item-book';
import type { ItemCatalog } from './item-catalog';
import { ItemCounters } from './item-counters';
import { ItemsService } from './items-service';
import { createMetrics, metricsHandler } from './metrics';
import { demoSale, readSaleFile } from './sale-definition';
import type { SalePushes } from './sale-pushes';
import { checkAgainstSales } from './sale-rules';
import { Settlement } from './settlement';
import { ShardAnswerer } from './shard-answerer';
import type { ShardDispatcher } from './shard-dispatcher';
import { localIndexOf, shardOf } from './shard-dispatcher';
import { loadShard, type ShardSetup } from './shard-loader';
import { FAULT_ENV } from './shard-worker';
import { MAIN_PRODUCER, SharedState } from './shared-state';
import { pruneSnapshots, snapshotBuffers, snapshotJob, writeSnapshotInThread } from './snapshot';
import { loadStaticFiles } from './static-files';
import { SummedCounters } from './thread-counters';
import { WebhookSender } from './webhook-sender';
import { WorkerShards } from './worker-shards';

/** A start-up refusal the operator can fix (exit code 2), not a bug. */
export class StartupError extends Error {}

export interface SnapshotResult {
  path: string;
  pausedMs: number;
}

/** What the main thread's app listens on, and its pushes. */
interface Listening {
  pushes: SalePushes;
  listenSocket: uWS.us_listen_socket | null;
  /** The loopback port the other HTTP threads relay the admin API to; null with one thread. */
  relaySocket: uWS.us_listen_socket | null;
}

/** What start() built; stop() takes it apart. */
interface Running extends Listening {
  db: Db;
  pidFile: string;
  catalog: ItemCatalog;
  counts: ItemCounters;
  persister: Persister;
  shards: ShardDispatcher;
  ctx: HttpContext;
  settlement: Settlement;
  /** The HTTP threads besides the main one; null with --http-threads 1. */
  threads: HttpThreads | null;
  /** The outcome stream's readers, and the webhook sender (null without --webhook). */
  feed: EventFeed;
  webhook: WebhookSender | null;
}

/** What start-up reads from the data directory before any thread starts. */
interface Store {
  db: Db;
  pidFile: string;
  items: StoredItem[];
  ticketSecret: string;
  /** Signs demo tokens when no FLASH_USER_SECRET is set; a fresh one per boot. */
  demoUserSecret: string | null;
}

export class Engine {
  private running: Running | null = null;
  private shared: SharedState | null = null;
  private stopping: Promise<void> | null = null;
  private exitCode = 0;
  private resolveStopped: (exitCode: number) => void = () => undefined;
  /** Resolves with the process's exit code once the engine has stopped. */
  readonly stopped = new Promise<number>((resolve) => {
    this.resolveStopped = resolve;
  });
  /** SIGUSR2 and POST /admin/snapshot: one at a time, each caller served by a run begun after its request. */
  readonly snapshots = new CoalescedRuns<SnapshotResult>(() => this.takeSnapshot());

  constructor(private readonly config: EngineConfig, private readonly log: pino.Logger) {}

  /**
   * The one way a component reports that the engine cannot go on (it has
   * logged why): stop with exit code 1. Before the engine listens nothing
   * was acknowledged, so it stops at once.
   */
  readonly onFatal = (reason: string): void => {
    this.exitCode = 1;
    // Every HTTP thread's /readyz says so from now on.
    if (this.shared !== null) Atomics.store(this.shared.threadDown, 0, 1);
    void this.stop(reason);
  };

  async start(): Promise<void> {
    const config = this.config;
    const store = openStore(config, this.log);
    const shared = new SharedState(config.workers, config.ringSlots, config.httpThreads,
      { user: config.rateUserPerSec > 0, address: config.rateAddressPerSec > 0 });
    this.shared = shared;
    const setup: HttpThreadSetup = {
      index: MAIN_PRODUCER, config, shared, items: store.items, ticketSecret: store.ticketSecret,
      demoUserSecret: store.demoUserSecret, bans: readBans(store.db),
      staticFiles: loadStaticFiles(path.join(__dirname, '..', '..', 'static')),
    };
    const catalog = createCatalog(setup);
    const counts = new ItemCounters(catalog, shared.counters, shared.threadCounters.map((views) => views.refusals));
    const bootId = Date.now();
    const persister = new Persister({
      dataDir: config.dataDir, logDir: logDirectory(config.dataDir), bootId, shardCount: shared.shardCount,
      fsync: config.fsync, progress: shared.progress, control: shared.persisterControl,
      appliedTime: shared.appliedTime, eventsHead: shared.eventsHead,
    }, this.log, this.onFatal);
    await persister.start();
    const feed = new EventFeed(new EventReader(store.db), shared.eventsHead);
    let shards: ShardDispatcher | null = null;
    let threads: HttpThreads | null = null;
    const threadsAlive = (): boolean => persister.alive && (shards?.shardsAlive().every(Boolean) ?? true)
      && (threads?.alive().every(Boolean) ?? true);
    const ctx = createHttpContext(setup, catalog, threadsAlive);
    restoreIdempotencyKeys(store.db, catalog, ctx.keys, this.log);
    const answerer = new ShardAnswerer(catalog, ctx.latency);
    const setups = shardSetups(config, store, bootId, shared);
    shards = config.workers === 0
      ? new InlineShards(loadShard(setups[0]!, store.db), answerer, shared.left, config.ringSlots,
        (item, index) => loadItemBook(store.db, item, index, shared.settings), ctx.inFlight, ctx.keys)
      : await WorkerShards.start(setups, config.dataDir, {
        answerer, shared, log: this.log, inFlight: ctx.inFlight, keys: ctx.keys,
        onShardDied: (index) => {
          threads?.shardDied(index);
          this.onFatal('shard worker died');
        },
      });
    const changes = new CatalogChanges(catalog, ctx.bans, null, this.log);
    const relay = { port: 0, secret: config.httpThreads > 1 ? crypto.randomBytes(24).toString('base64url') : '' };
    const webhook = config.webhook === null ? null : new WebhookSender({
      url: new URL(config.webhook), secret: config.webhookSecret, db: store.db, feed, log: this.log,
    });
    const listening = await this.listen(setup, ctx, store, shards, persister, counts, changes, relay.secret,
      () => [true, ...(threads?.alive() ?? [])], { feed, webhook });
    if (config.httpThreads > 1) {
      relay.port = uWS.us_socket_local_port(listening.relaySocket as unknown as uWS.us_socket);
      const port = uWS.us_socket_local_port(listening.listenSocket as unknown as uWS.us_socket);
      // Started and attached in the turn that listened: every admin change reaches them.
      threads = new HttpThreads(Array.from({ length: config.httpThreads - 1 }, (_, i) => ({
        ...setup, index: i + 1, port, relay,
      })), shared.changeAcks, this.log, () => this.onFatal('HTTP thread died'));
      changes.attach(threads);
      await threads.ready;
    }
    ctx.lag.start();
    const settlement = new Settlement(config.dataDir, store.db, catalog, counts, persister, this.log);
    settlement.start();
    webhook?.start();
    this.running = {
      db: store.db, pidFile: store.pidFile, catalog, counts, persister, shards, ctx, settlement, threads,
      feed, webhook, ...listening,
    };
    const port = uWS.us_socket_local_port(listening.listenSocket as unknown as uWS.us_socket);
    this.log.info({
      host: config.host, port, workers: config.workers, httpThreads: config.httpThreads, items: store.items.length,
      fsync: config.fsync, dataDir: config.dataDir, cpus: os.availableParallelism(),
    }, 'listening');
  }

  /** Builds the main thread's HTTP app with the admin API, metrics and pushes, and listens. */
  private async listen(setup: HttpThreadSetup, ctx: HttpContext, store: Store, shards: ShardDispatcher,
    persister: Persister, counts: ItemCounters, changes: CatalogChanges, relaySecret: string,
    httpThreadsAlive: () => boolean[], events: { feed: EventFeed; webhook: WebhookSender | null },
  ): Promise<Listening> {
    const config = this.config;
    const log = this.log;
    const catalog = ctx.catalog;
    const signals = signalReportOf(setup, catalog, ctx.signals);
    const admin = config.adminToken === null ? null : {
      token: config.adminToken, catalog, shards, db: store.db, persister, log, counts, changes, relaySecret,
      events: events.feed, signals, snapshot: () => this.snapshots.request(),
      items: new ItemsService(store.db, catalog, shards, counts, changes, log),
    };
    if (admin === null) log.info('admin API disabled: FLASH_ADMIN_TOKEN is not set');
    const metrics = metricsHandler(createMetrics({
      catalog, shards, persister, counts, threads: new SummedCounters(this.shared!.threadCounters), httpThreadsAlive,
      events: { head: () => events.feed.head(), webhook: events.webhook },
      signals,
    }));
    const { app, pushes } = createThreadApp(setup, ctx, shards, { admin, metrics }, log);
    const listenOn = (host: string, port: number): Promise<uWS.us_listen_socket> =>
      new Promise((resolve, reject) => {
        app.listen(host, port, (socket) => (socket
          ? resolve(socket)
          : reject(new StartupError(`cannot listen on ${host}:${port}`))));
      });
    const listenSocket = config.port === 0 && config.httpThreads > 1
      ? await listenOnFreePort(listenOn, config.host)
      : await listenOn(config.host, config.port);
    // The other HTTP threads relay the admin API and /metrics here (admin-relay.ts).
    const relaySocket = config.httpThreads > 1 ? await listenOn('127.0.0.1', 0) : null;
    return { pushes, listenSocket, relaySocket };
  }

  /**
   * Stops once, whoever asks first (a signal, or onFatal); later calls share
   * that stop. Resolves `stopped` with the exit code when done.
   */
  stop(reason: string): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.log.info({ reason }, 'stopping: no new connections; answering and flushing what is in flight');
    const running = this.running;
    // Still starting (only onFatal stops then): nothing was acknowledged, so
    // there is nothing to flush; the next start takes over the stale pid lock.
    if (running === null) this.resolveStopped(this.exitCode);
    this.stopping = running === null ? Promise.resolve() : this.stopRunning(running);
    return this.stopping;
  }

  private async stopRunning(running: Running): Promise<void> {
    running.ctx.closing = true;
    for (const socket of [running.listenSocket, running.relaySocket]) if (socket) uWS.us_listen_socket_close(socket);
    running.listenSocket = null;
    running.relaySocket = null;
    running.settlement.stop();
    // Readers of the outcome stream answer what they have; the webhook's batch in flight is sent again next start.
    running.feed.close();
    await running.webhook?.stop();
    running.pushes.stop();
    running.ctx.lag.stop();
    // The other HTTP threads answer what they sent the shards before the shards stop.
    await running.threads?.stop();
    // A snapshot being written is finished, not left as a .tmp file; none starts after this.
    await this.snapshots.close();
    await running.shards.close();
    const applied = await running.persister.drain();
    running.db.close();
    fs.rmSync(running.pidFile, { force: true });
    const stopped = running.persister.alive
      ? 'stopped: every acknowledged order is in SQLite'
      : 'stopped: the persistence worker died, so the log keeps what SQLite lacks until the next start replays it';
    const ordersWon = running.counts.wonTotal();
    this.log.info({ ordersWon, recordsApplied: applied }, stopped);
    this.resolveStopped(this.exitCode);
  }

  private async takeSnapshot(): Promise<SnapshotResult> {
    const running = this.running;
    if (running === null) throw new Error('still starting');
    const takenAt = Date.now();
    const started = performance.now();
    const shards = await running.shards.snapshot();
    const job = snapshotJob(this.config.dataDir, takenAt, shards, running.catalog.items, running.catalog.deleted,
      (id) => fileDefinitionOf(running.db, id));
    const file = await writeSnapshotInThread(job, shards.flatMap(snapshotBuffers));
    const removed = pruneSnapshots(this.config.dataDir, this.config.snapshotKeep, path.basename(file));
    if (removed.length > 0) this.log.info({ removed, keep: this.config.snapshotKeep }, 'old snapshots removed');
    const pausedMs = Number(Math.max(...shards.map((s) => s.pausedMs)).toFixed(3));
    const totalMs = Number((performance.now() - started).toFixed(1));
    this.log.info({ path: file, pausedMs, totalMs }, 'snapshot written');
    return { path: file, pausedMs };
  }
}

/** Everything before the threads: limits, the pid lock, the log replay, the items and the ticket secret. */
function openStore(config: EngineConfig, log: pino.Logger): Store {
  checkLimits(config.ringSlots);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const pidFile = takePidLock(config.dataDir);
  const db = openDatabase(config.dataDir, { fsync: config.fsync });
  const replay = catchUpLog(db, logDirectory(config.dataDir), config.fsync);
  log.info({ ...replay, database: databaseFile(config.dataDir) }, 'write-behind log replayed into SQLite');
  const items = loadItems(db, config, log);
  const ticketSecret = secretOf(db, config.ticketSecret, 'ticket_secret');
  const demoUserSecret = config.userSecret === null ? crypto.randomBytes(32).toString('base64url') : null;
  if (process.env[FAULT_ENV]) {
    log.warn({ [FAULT_ENV]: process.env[FAULT_ENV] },
      'FAULT INJECTION is set: a shard worker will throw on purpose (tests only)');
  }
  if (process.env[HTTP_FAULT_ENV]) {
    log.warn({ [HTTP_FAULT_ENV]: process.env[HTTP_FAULT_ENV] },
      'FAULT INJECTION is set: HTTP thread 1 will throw on purpose (tests only)');
  }
  if (demoUserSecret !== null) {
    log.warn('DEMO MODE: FLASH_USER_SECRET is not set; tokens are signed with a random per-boot secret and '
      + 'GET /api/demo/token hands them out');
  }
  return { db, pidFile, items, ticketSecret, demoUserSecret };
}

/**
 * Keeps the wins of keyed buys that SQLite holds (the log replay has put
 * every acknowledged one there by now), so that a retry after a restart,
 * kill -9 included, gets its order back rather than a second unit. Orders of
 * deleted items have no item to be retried on. Past the table's bound the
 * rest are not kept, and said so: their retries would buy again.
 */
function restoreIdempotencyKeys(db: Db, catalog: ItemCatalog, keys: IdempotencyKeys, log: pino.Logger): void {
  let restored = 0;
  let notKept = 0;
  for (const order of keyedOrders(db)) {
    const itemIndex = catalog.byRow.get(order.itemRow);
    if (itemIndex === undefined) continue;
    if (keys.restoreWon(order.userId, order.key, itemIndex, order.id, order.payBy)) restored++;
    else notKept++;
  }
  if (notKept > 0) log.warn({ restored, notKept }, 'idempotency keys past the table\'s bound were not kept');
  else log.info({ restored }, 'idempotency keys of won orders restored');
}

/** One setup per shard, each with its items in local index order. */
function shardSetups(config: EngineConfig, store: Store, bootId: number, shared: SharedState): ShardSetup[] {
  const shardCount = shared.shardCount;
  const fair = { key: fairKeyOf(store.ticketSecret), drawDir: drawDirectory(config.dataDir) };
  const setups: ShardSetup[] = Array.from({ length: shardCount }, (_, index) => ({
    index, logDir: logDirectory(config.dataDir), bootId, fsync: config.fsync, items: [],
    left: shared.left, progress: shared.progress, counters: shared.counters, settings: shared.settings, fair,
    waitlistServed: shared.waitlistServed,
  }));
  store.items.forEach((item, globalIndex) => {
    const setup = setups[shardOf(globalIndex, shardCount)]!;
    if (setup.items.length !== localIndexOf(globalIndex, shardCount)) throw new Error('shard item order broken');
    setup.items.push({ item, globalIndex });
  });
  return setups;
}

/** Tries for --port 0 with several HTTP threads: a port another process takes between probe and listen. */
const FREE_PORT_TRIES = 5;

/**
 * --port 0 with several HTTP threads: uWebSockets.js sets SO_REUSEPORT only
 * on a socket bound to a port it was given, so the main thread cannot let
 * the kernel pick one and have the others join it. A probe finds a free
 * port, is closed, and the main thread listens on that port by number.
 */
async function listenOnFreePort(listenOn: (host: string, port: number) => Promise<uWS.us_listen_socket>,
  host: string): Promise<uWS.us_listen_socket> {
  for (let attempt = 1; ; attempt++) {
    const probe = await listenOn(host, 0);
    const port = uWS.us_socket_local_port(probe as unknown as uWS.us_socket);
    uWS.us_listen_socket_close(probe);
    try {
      return await listenOn(host, port);
    } catch (error) {
      if (attempt === FREE_PORT_TRIES) throw error;
    }
  }
}

/** One engine per data directory: a second one would write the same log and database. */
function takePidLock(dataDir: string): string {
  const file = pidFile(dataDir);
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
    log.warn({ items: demo.map((i) => i.id), startsAt: new Date(demo[0]!.startsAt).toISOString() },
      'DEMO SALE: no --sale file and an empty database, so the embedded demo sale runs');
  }
  const items = readItems(db);
  if (items.length > ITEMS_MAX) {
    throw new StartupError(`${items.length} items is more than the ${ITEMS_MAX} the engine holds`);
  }
  for (const item of items) {
    if (item.row > ITEM_ROW_MAX) throw new StartupError(`item ${item.id}: row ${item.row} is past ${ITEM_ROW_MAX}`);
  }
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

