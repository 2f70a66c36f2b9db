// What every HTTP thread is made from, the main thread and the others alike:
// the setup the main thread hands over (the configuration, the shared
// memory, the items and secrets as they stood when the thread started) and
// how a thread turns it into the context its routes read (http-context.ts).
// Each thread builds its own objects over the same shared tables, so a
// per-user or per-address check means the same on every thread.

import type { Ban, StoredItem } from '../persistence/database';
import { drawDirectory } from '../persistence/data-directory';
import { BanList, parseRange } from './ban-list';
import { Challenges, challengeSecretOf } from './challenge';
import type { EngineConfig } from './config';
import { AddressUsers } from './address-users';
import { BotSignals } from './bot-signals';
import { ADDRESS_BLOCKS_MAX, ADDRESS_USER_PAIRS_MAX, IDEMPOTENCY_KEYS_MAX, SUSPECT_USERS_MAX } from './constants';
import type { HttpContext } from './http-context';
import { IdempotencyKeys } from './idempotency-keys';
import { InFlightUsers } from './in-flight-users';
import { ItemCatalog } from './item-catalog';
import { RATE_SLOTS, TokenBucketTable } from './rate-limiter';
import { inFlightBound, type SharedViews } from './shared-state';
import type { StaticFile } from './static-files';
import type pino from 'pino';
import type { TemplatedApp } from 'uWebSockets.js';
import { ConnectionCounts } from './connection-counts';
import { createHttpApp, type Operations } from './http-server';
import { SalePushes } from './sale-pushes';
import type { RequestDispatcher } from './shard-dispatcher';
import { threadCounters } from './thread-counters';
import { SignalReport } from './signal-report';
import { SuspectUsers } from './suspect-users';
import { UserTokenVerifier } from './user-token';

export interface HttpThreadSetup {
  /** The thread's producer index: 0 is the main thread. */
  index: number;
  config: EngineConfig;
  shared: SharedViews;
  /** The items when the thread starts; changes after that arrive as catalog changes (catalog-changes.ts). */
  items: StoredItem[];
  ticketSecret: string;
  /** Signs demo tokens when no FLASH_USER_SECRET is set. */
  demoUserSecret: string | null;
  bans: Ban[];
  /**
   * The sale page's files, read and compressed once by the main thread
   * (static-files.ts); each other thread gets its own copy of the bytes.
   */
  staticFiles: Map<string, StaticFile>;
}

/** The thread's catalog over the shared `left` and settings, with its own refusal counters. */
export function createCatalog(setup: HttpThreadSetup): ItemCatalog {
  const { shared } = setup;
  return new ItemCatalog(setup.items, setup.ticketSecret, shared.left, shared.settings,
    shared.threadCounters[setup.index]!.refusals);
}

/** The bans as the buy path checks them. */
export function banListOf(bans: readonly Ban[]): BanList {
  const list = new BanList();
  for (const ban of bans) {
    if (ban.kind === 'user') list.banUser(Number(ban.value));
    else list.banRange(ban.value);
  }
  return list;
}

/** The context the thread's routes read; `threadsAlive` says whether every engine thread is up. */
export function createHttpContext(setup: HttpThreadSetup, catalog: ItemCatalog, threadsAlive: () => boolean):
  HttpContext {
  const { config, shared } = setup;
  const { counts, latency, lag } = threadCounters(shared.threadCounters[setup.index]!, config.shedLagMs);
  return {
    catalog, verifier: new UserTokenVerifier(config.userSecret ?? setup.demoUserSecret!),
    staticFiles: setup.staticFiles, demoUserSecret: setup.demoUserSecret,
    closing: false, latency, counts, threadsAlive, lag,
    bans: banListOf(setup.bans), trustedProxyHeader: config.trustedProxyHeader,
    rateUser: shared.rateUser === null
      ? null
      : new TokenBucketTable(config.rateUserPerSec, config.rateUserBurst, RATE_SLOTS, shared.rateUser),
    rateAddress: shared.rateAddress === null
      ? null
      : new TokenBucketTable(config.rateAddressPerSec, config.rateAddressBurst, RATE_SLOTS, shared.rateAddress),
    rateExempt: config.rateExempt === null ? [] : config.rateExempt.split(',').map((r) => parseRange(r.trim())),
    inFlight: inFlightUsersOf(setup),
    keys: new IdempotencyKeys(IDEMPOTENCY_KEYS_MAX, shared.idempotencyKeys),
    challenges: new Challenges(challengeSecretOf(setup.ticketSecret), config.challengeThinkMs,
      config.challengeTtlSec * 1000, shared.usedChallenges),
    maxUrlBytes: config.maxUrlBytes, maxHeaderBytes: config.maxHeaderBytes, drawDir: drawDirectory(config.dataDir),
    signals: botSignalsOf(setup),
  };
}

/** The thread's bot signals: its own per-item counters, and the per-user and per-address tables every thread shares. */
export function botSignalsOf(setup: HttpThreadSetup): BotSignals {
  const { config, shared } = setup;
  return new BotSignals(shared.threadCounters[setup.index]!.signals,
    new SuspectUsers(SUSPECT_USERS_MAX, shared.suspectUsers),
    new AddressUsers(ADDRESS_BLOCKS_MAX, ADDRESS_USER_PAIRS_MAX, config.suspectAddressUsers, shared.addressUsers));
}

/**
 * The main thread's reader of every thread's bot signals, for the admin API
 * and /metrics, over the shared tables its own `signals` already wraps.
 */
export function signalReportOf(setup: HttpThreadSetup, catalog: ItemCatalog, signals: BotSignals): SignalReport {
  return new SignalReport(catalog, setup.shared.threadCounters.map((views) => views.signals), signals.users,
    signals.addresses);
}

/**
 * The thread's app and its pushes: every thread's sockets count against the
 * engine-wide caps, and each thread pushes to its own sockets and logs it.
 */
export function createThreadApp(setup: HttpThreadSetup, ctx: HttpContext, shards: RequestDispatcher,
  operations: Operations, log: pino.Logger): { app: TemplatedApp; pushes: SalePushes } {
  const { config, shared } = setup;
  // No connection opens before the caller listens, and `pushes` exists by then.
  const { app, channel } = createHttpApp(ctx, shards, operations, {
    connections: new ConnectionCounts(shared.connections, config.wsMaxConnections, config.wsMaxPerAddress),
    idleSeconds: config.wsIdleSec,
    onOpen: (ws) => pushes.subscribe(ws),
  });
  const pushes = new SalePushes(app, ctx.catalog, channel.sockets, (item, delayMs, clients, publishMs) =>
    log.info({ item, delayMs, clients, publishMs: Number(publishMs.toFixed(2)) }, 'start pushed'),
  shared.waitlistServed);
  return { app, pushes };
}

/** The users with a buy in flight, over the table every HTTP thread shares. */
export function inFlightUsersOf(setup: HttpThreadSetup): InFlightUsers {
  const { config, shared } = setup;
  return new InFlightUsers(inFlightBound(shared.shardCount, config.ringSlots, shared.httpThreads),
    shared.inFlightUsers);
}
