// What the HTTP thread needs from the shards, whichever way they run:
// inline on the main thread (inline-shards.ts) or on worker threads fed
// through rings (worker-shards.ts). Both answer through the same Answerer
// and a request's Reply, so neither mode knows the transport (HTTP or
// WebSocket) and the transports have one code path for both modes.

import type { StoredItem } from '../persistence/database';
import type { Outcome } from './error-catalog';
import type { Reply } from './reply';
import type { OrderView } from './shard';
import type { ShardSnapshot } from './snapshot';

export interface Answerer {
  /**
   * Writes the answer for `op` on item `itemIndex` through `reply`. Called
   * corked, and only if `reply` was not aborted; `waitedMs` is how long the
   * request waited since it was dispatched (0 when answered at once).
   */
  answer(reply: Reply, op: number, itemIndex: number, outcome: Outcome, view: OrderView, waitedMs: number): void;
}

/** What the shopper routes of any HTTP thread need: a way to the shard that owns an item. */
export interface RequestDispatcher {
  /**
   * Runs `op` on the shard owning item `itemIndex` and answers `reply`, at once
   * or after the decision is in the write-behind log. `argument` is the op's
   * one number: the order's sequence for getOrder, pay and cancel, the units
   * for restock, the idempotency key for buy (0: none; as in the ring's
   * request slot). `startedAt`
   * (performance.now() at dispatch, 0 when untimed) times the wait.
   * Watches `reply` itself (again, if the caller had) when it answers later.
   * A buy arrives with its user's in-flight claim taken and its key begun
   * (buy-gate.ts claim); when it answers, the dispatcher finishes the key
   * (idempotency-keys.ts: a final answer is kept, any other forgotten) and
   * then releases the claim.
   */
  dispatch(reply: Reply, op: number, itemIndex: number, userId: number, argument: number, nowMs: number,
    startedAt: number): void;
}

/** The main thread's handle on every shard: requests, and the control the other HTTP threads have not. */
export interface ShardDispatcher extends RequestDispatcher {
  /** Stock left per global item index, written by the owning shards. */
  readonly left: Int32Array;
  /** A consistent copy of every shard's state, each taken between two of its decisions. */
  snapshot(): Promise<ShardSnapshot[]>;
  /** Answers what is in flight, flushes and closes the logs. */
  close(): Promise<void>;
  /** Per-item decision counters (shard.ts COUNTER), written by the owning shards. */
  readonly counters: Float64Array;
  /**
   * Hands a new item (already in the database, its `left` and settings
   * already published) to the shard that owns `itemIndex`. Requests for it
   * that follow reach that shard after it, whatever the mode.
   */
  addItem(item: StoredItem, itemIndex: number): void;
  /** Whether each shard is alive (a worker that exited is not). */
  shardsAlive(): boolean[];
}

export function shardOf(itemIndex: number, shardCount: number): number {
  return itemIndex % shardCount;
}

export function localIndexOf(itemIndex: number, shardCount: number): number {
  return Math.floor(itemIndex / shardCount);
}
