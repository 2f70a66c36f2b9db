// Every SharedArrayBuffer the engine's threads share, allocated once at
// start-up and handed out as typed views. Other modules receive these views
// and never wrap a buffer themselves, so each layout is defined here and in
// the module whose constants it names. A typed array over a
// SharedArrayBuffer crosses postMessage and workerData as a view on the same
// memory, so workers receive the views as they are.
//
// Each buffer has one writer per slot; the comment on each says which.

import assert from 'node:assert/strict';
import { createUsedChallengeViews, type UsedChallengeViews } from './challenge';
import { createConnectionCountView } from './connection-counts';
import {
  ADDRESS_BLOCKS_MAX, ADDRESS_USER_PAIRS_MAX, IDEMPOTENCY_KEYS_MAX, ITEMS_MAX, PRODUCERS_MAX, SUSPECT_USERS_MAX,
} from './constants';
import { createAddressUserViews, type AddressUserViews } from './address-users';
import { createSuspectUserViews, type SuspectUserViews } from './suspect-users';
import { createIdempotencyViews, type IdempotencyViews } from './idempotency-keys';
import { createInFlightViews, type InFlightViews } from './in-flight-users';
import { SETTING_FIELDS } from './item-book';
import { createBucketViews, type BucketViews } from './rate-limiter';
import { COUNTER_FIELDS } from './shard';
import { createShardRings, type ShardRings } from './shard-ring';
import { createThreadCounterViews, type ThreadCounterViews } from './thread-counters';
import { PROGRESS_FIELDS } from '../persistence/write-behind-log';

/**
 * The shared state as another thread receives it (workerData): the same
 * fields and views on the same memory, without the class.
 */
export type SharedViews = { readonly [K in keyof SharedState]: SharedState[K] };

/** Producer 0, the main thread: it starts the shard workers and alone sends them control requests. */
export const MAIN_PRODUCER = 0;

/** Which token-bucket tables the engine runs (a rate of 0 turns one off, and it takes no memory). */
export interface RateTables {
  user: boolean;
  address: boolean;
}

const FLOAT64_BYTES = Float64Array.BYTES_PER_ELEMENT;

export class SharedState {
  /**
   * Units left per global item index, Int32Array(ITEMS_MAX), 400 kB. The
   * owning shard writes its items' slots; the HTTP thread reads them to
   * refuse sold-out buys without a round trip, and writes a new item's
   * stock before the shard learns of it.
   */
  readonly left = new Int32Array(new SharedArrayBuffer(ITEMS_MAX * Int32Array.BYTES_PER_ELEMENT));

  /**
   * Item settings admins may change between rounds (item-book.ts SETTING),
   * Float64Array(ITEMS_MAX * SETTING_FIELDS), 6.4 MB. The HTTP thread writes;
   * the shards read on each decision.
   */
  readonly settings = new Float64Array(new SharedArrayBuffer(ITEMS_MAX * SETTING_FIELDS * FLOAT64_BYTES));

  /**
   * Per-item decision counters (shard.ts COUNTER), Float64Array(ITEMS_MAX *
   * COUNTER_FIELDS), 6.4 MB. Each shard writes its own items' slots; stats,
   * metrics and settlement read them.
   */
  readonly counters = new Float64Array(new SharedArrayBuffer(ITEMS_MAX * COUNTER_FIELDS * FLOAT64_BYTES));

  /**
   * The highest waitlist place offered a unit per global item index
   * (waitlist-queue.ts served), Int32Array(ITEMS_MAX), 400 kB. The owning
   * shard writes its items' slots; every HTTP thread's pushes read them.
   */
  readonly waitlistServed = new Int32Array(new SharedArrayBuffer(ITEMS_MAX * Int32Array.BYTES_PER_ELEMENT));

  /**
   * Where each shard's write-behind log stands (write-behind-log.ts
   * PROGRESS_*), Int32Array(shardCount * PROGRESS_FIELDS), 16 B per shard.
   * The shard writes its segment and record count; the persistence worker
   * writes how far it applied them.
   */
  readonly progress: Int32Array;

  /**
   * The persistence worker's control words (persister-worker.ts CONTROL_*),
   * Int32Array(2): [0] wake counter, [1] command. The main thread writes.
   */
  readonly persisterControl = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));

  /**
   * Event time (ms) of the newest record in SQLite, Float64Array(1), for the
   * lag in ms. The persistence worker writes; it starts at boot so that a
   * lag before the first apply is measured from there.
   */
  readonly appliedTime = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT)).fill(Date.now());

  /**
   * The offset of the newest event in SQLite's `events` table,
   * Float64Array(1). The persistence worker writes it after each commit;
   * the main thread's event feed (event-feed.ts) watches it to wake the
   * stream's waiting readers and the webhook sender.
   */
  readonly eventsHead = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT));

  /**
   * Per shard worker, its rings (shard-ring.ts draws them): a control ring,
   * a request ring and an answer ring per producer (HTTP thread), and a
   * doorbell. Producer p writes requests[p] and the control ring (p = 0
   * only) and reads answers[p]; the worker the rest. None with --workers 0,
   * where the shard runs on the main thread.
   */
  readonly rings: readonly ShardRings[];

  /** Shards: one per worker thread, or the one inline shard with --workers 0. */
  readonly shardCount: number;

  // The per-user and per-address tables below must be exact whichever HTTP
  // thread a request arrives on: each is guarded by Atomics lock words of its
  // own (atomic-lock.ts), and any HTTP thread reads and writes any slot.

  /**
   * Users with a buy in flight (in-flight-users.ts): slots for twice the
   * in-flight bound (inFlightBound), 8 B each, plus a lock and a
   * count word; 64 KiB per shard at the default 4,096 ring slots.
   */
  readonly inFlightUsers: InFlightViews;

  /**
   * Token buckets per user and per client address (rate-limiter.ts), each
   * RATE_SLOTS * 24 B = 6 MiB plus 16 KiB of lock words; null when that
   * rate is off.
   */
  readonly rateUser: BucketViews | null;
  readonly rateAddress: BucketViews | null;

  /**
   * Idempotency keys of buys and their answers (idempotency-keys.ts):
   * IDEMPOTENCY_KEYS_MAX entries in twice as many slots of 40 B, 80 MiB
   * (its pages mapped as keys arrive), one lock word. Any HTTP thread begins a key; the thread whose
   * dispatcher gets the shard's answer finishes it; the main thread fills
   * it at start-up from the orders in SQLite.
   */
  readonly idempotencyKeys: IdempotencyViews = createIdempotencyViews(IDEMPOTENCY_KEYS_MAX);

  /** Used challenges (challenge.ts): 16 MiB plus 16 KiB of lock words. */
  readonly usedChallenges: UsedChallengeViews = createUsedChallengeViews();

  /**
   * Bot signals per user (suspect-users.ts, 3.5 MiB) and distinct users per
   * address block (address-users.ts, 26.5 MiB), each under one lock word,
   * mapped as entries arrive: any HTTP thread notes, the main thread lists.
   */
  readonly suspectUsers: SuspectUserViews = createSuspectUserViews(SUSPECT_USERS_MAX);
  readonly addressUsers: AddressUserViews = createAddressUserViews(ADDRESS_BLOCKS_MAX, ADDRESS_USER_PAIRS_MAX);

  /** Open WebSocket connections, in total and per address (connection-counts.ts): 256 KiB. */
  readonly connections = createConnectionCountView();

  /**
   * Per HTTP thread, what it counts for /metrics and the stats
   * (thread-counters.ts), about 12 MB each. Thread p writes [p]; the
   * main thread sums them.
   */
  readonly threadCounters: readonly ThreadCounterViews[];

  /**
   * Int32Array(1): 1 once some engine thread died (the engine is stopping).
   * The main thread writes; every HTTP thread's /readyz reads it.
   */
  readonly threadDown = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

  /**
   * Int32Array(1): admin changes applied by the HTTP threads other than the
   * main one, summed (catalog-changes.ts). Each adds 1 per change; the main
   * thread waits on it.
   */
  readonly changeAcks = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

  /** HTTP threads: each a producer of every shard's rings. */
  readonly httpThreads: number;

  constructor(workers: number, ringSlots: number, producerCount: number, rateTables: RateTables) {
    this.httpThreads = producerCount;
    this.threadCounters = Array.from({ length: producerCount }, createThreadCounterViews);
    const shardCount = Math.max(1, workers);
    this.shardCount = shardCount;
    this.inFlightUsers = createInFlightViews(inFlightBound(shardCount, ringSlots, producerCount));
    this.rateUser = rateTables.user ? createBucketViews() : null;
    this.rateAddress = rateTables.address ? createBucketViews() : null;
    this.progress = new Int32Array(new SharedArrayBuffer(shardCount * PROGRESS_FIELDS * Int32Array.BYTES_PER_ELEMENT));
    assert.ok(producerCount >= 1 && producerCount <= PRODUCERS_MAX);
    this.rings = Array.from({ length: workers }, () => createShardRings(producerCount, ringSlots));
  }
}

/**
 * The most buys in flight at once: each holds a ring slot (workers) or a
 * deferred-answer slot (inline), ringSlots per shard and producer; and
 * each HTTP thread may hold one claim more for the moment between the
 * gate's claim and a dispatcher refusing at once (a full ring).
 */
export function inFlightBound(shardCount: number, ringSlots: number, producerCount: number): number {
  return shardCount * ringSlots * producerCount + producerCount;
}
