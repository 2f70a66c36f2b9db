// The users who have a buy in flight: dispatched to a shard and not yet
// answered. A user may have one at a time (a bot firing parallel buys gets
// 429 rate_limited for all but one). An exact open-addressing set of user
// ids in one Float64Array, linear probing with backward-shift deletion (no
// tombstones, so it never degrades). Its size is fixed at start-up to twice
// the engine's in-flight bound (ring and deferred-answer slots), so it can
// never fill: memory does not grow with users or attackers.
//
// Cross-thread design: shared memory with Atomics (see atomic-lock.ts for
// why not partitioning). The table lives in SharedArrayBuffers, and every
// operation runs under one lock word for the whole table: a backward shift
// moves entries across any stretch of slots, so no finer stripe would hold
// a deletion still, and the critical section is a few probes long. The
// count is written under the lock with plain writes (the unlock publishes
// them; an atomic add there would cost another fenced instruction) and read
// with Atomics.load without it, so the buy check's `size > 0` takes no lock:
// it sees a count some thread held, and the exact check is add's answer.

import assert from 'node:assert/strict';
import { createLockWords, lock, unlock } from './atomic-lock';
import { hashKey, openTableSlots } from './key-hash';

const EMPTY = 0;
/** control[LOCK]: the table's lock word (atomic-lock.ts). */
const LOCK = 0;
/** control[COUNT]: the number of ids in the table. */
const COUNT = 1;
const CONTROL_WORDS = 2;

/** What insertion found, decided under the lock and asserted after it. */
const ADDED = 0;
const PRESENT = 1;
const FULL = 2;

/** The set's shared memory: slots of user ids (0 is empty), and its lock and count words. */
export interface InFlightViews {
  /** Float64Array(inFlightSlots(bound)), 8 B a slot: 64 KiB for the default 4,096 ring slots. Under LOCK. */
  keys: Float64Array;
  /** Int32Array(2): [LOCK, COUNT]; COUNT is written under LOCK. */
  control: Int32Array;
}

/** Slots for `bound` ids (key-hash.ts). */
export const inFlightSlots = openTableSlots;

export function createInFlightViews(bound: number): InFlightViews {
  const slots = inFlightSlots(bound);
  return {
    keys: new Float64Array(new SharedArrayBuffer(slots * Float64Array.BYTES_PER_ELEMENT)),
    control: createLockWords(CONTROL_WORDS),
  };
}

export class InFlightUsers {
  private readonly keys: Float64Array;
  private readonly control: Int32Array;
  private readonly mask: number;

  /**
   * `bound` is the most buys that can be in flight at once, across every
   * shard and every thread that shares `views`.
   */
  constructor(readonly bound: number, views: InFlightViews = createInFlightViews(bound)) {
    assert.equal(views.keys.length, inFlightSlots(bound));
    assert.equal(views.control.length, CONTROL_WORDS);
    this.keys = views.keys;
    this.control = views.control;
    this.mask = views.keys.length - 1;
  }

  get size(): number {
    return Atomics.load(this.control, COUNT);
  }

  has(userId: number): boolean {
    lock(this.control, LOCK);
    const found = this.keys[this.slotOf(userId)] === userId;
    unlock(this.control, LOCK);
    return found;
  }

  /** Marks `userId` in flight; false when it already was (on any thread). */
  add(userId: number): boolean {
    assert.ok(userId > 0);
    lock(this.control, LOCK);
    const found = this.insert(userId);
    unlock(this.control, LOCK);
    // The dispatchers never hold more than `bound` requests, so half the table stays empty.
    assert.ok(found !== FULL, 'more buys in flight than the engine bounds');
    return found === ADDED;
  }

  /** Clears `userId` (its buy was answered or its client left). */
  remove(userId: number): void {
    lock(this.control, LOCK);
    const slot = this.slotOf(userId);
    if (this.keys[slot] === userId) this.deleteAt(slot);
    unlock(this.control, LOCK);
  }

  /** The slot holding `userId`, or the empty slot that ends its probe run. Under the lock. */
  private slotOf(userId: number): number {
    const keys = this.keys;
    let slot = hashKey(userId) & this.mask;
    while (keys[slot] !== userId && keys[slot] !== EMPTY) slot = (slot + 1) & this.mask;
    return slot;
  }

  /** Under the lock; never throws, so the caller always unlocks. */
  private insert(userId: number): number {
    const slot = this.slotOf(userId);
    if (this.keys[slot] === userId) return PRESENT;
    if (this.control[COUNT]! >= this.bound) return FULL;
    this.keys[slot] = userId;
    this.control[COUNT] = this.control[COUNT]! + 1;
    return ADDED;
  }

  /**
   * Backward-shift: move later entries of the run into the hole when their
   * home slot allows, so every lookup still finds them without tombstones.
   * Under the lock.
   */
  private deleteAt(slot: number): void {
    const keys = this.keys;
    const mask = this.mask;
    let hole = slot;
    for (let next = (hole + 1) & mask; keys[next] !== EMPTY; next = (next + 1) & mask) {
      const home = hashKey(keys[next]!) & mask;
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!between) {
        keys[hole] = keys[next]!;
        hole = next;
      }
    }
    keys[hole] = EMPTY;
    this.control[COUNT] = this.control[COUNT]! - 1;
  }
}
