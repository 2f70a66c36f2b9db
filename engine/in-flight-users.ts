// The users who have a buy in flight: dispatched to a shard and not yet
// answered. A user may have one at a time (a bot firing parallel buys gets
// 429 rate_limited for all but one). An exact open-addressing set of user
// ids in one Float64Array, linear probing with backward-shift deletion (no
// tombstones, so it never degrades). Its size is fixed at start-up to twice
// the engine's in-flight bound (ring and deferred-answer slots), so it can
// never fill: memory does not grow with users or attackers.

import assert from 'node:assert/strict';
import { hashKey } from './key-hash';

const EMPTY = 0;

export class InFlightUsers {
  private readonly keys: Float64Array;
  private readonly mask: number;
  private count = 0;

  /** `bound` is the most buys that can be in flight at once, across every shard. */
  constructor(readonly bound: number) {
    let slots = 16;
    while (slots < bound * 2) slots *= 2;
    this.keys = new Float64Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  has(userId: number): boolean {
    for (let slot = hashKey(userId) & this.mask; ; slot = (slot + 1) & this.mask) {
      const key = this.keys[slot]!;
      if (key === userId) return true;
      if (key === EMPTY) return false;
    }
  }

  /** Marks `userId` in flight; false when it already was. */
  add(userId: number): boolean {
    assert.ok(userId > 0);
    let slot = hashKey(userId) & this.mask;
    for (; ; slot = (slot + 1) & this.mask) {
      const key = this.keys[slot]!;
      if (key === userId) return false;
      if (key === EMPTY) break;
    }
    // The dispatchers never hold more than `bound` requests, so half the table stays empty.
    assert.ok(this.count < this.bound, 'more buys in flight than the engine bounds');
    this.keys[slot] = userId;
    this.count++;
    return true;
  }

  /** Clears `userId` (its buy was answered or its client left). */
  remove(userId: number): void {
    const keys = this.keys;
    const mask = this.mask;
    let slot = hashKey(userId) & mask;
    while (keys[slot] !== userId) {
      if (keys[slot] === EMPTY) return;
      slot = (slot + 1) & mask;
    }
    // Backward-shift: move later entries of the run into the hole when their
    // home slot allows, so every lookup still finds them without tombstones.
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
    this.count--;
  }
}
