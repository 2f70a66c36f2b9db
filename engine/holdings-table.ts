// Units held per user for one item: an open-addressing hash table (linear
// probing) on typed arrays, so a million holders cost two flat arrays and no
// object per user. Keys are user ids (1 .. 2^53-1, so 0 marks an empty slot);
// values are unit counts. Entries whose count falls back to 0 stay until the
// next growth, which drops them: there are no tombstones to manage.
//
// The table grows by doubling when it passes 70% load, up to a hard maximum;
// at the maximum `increment` refuses (returns -1) rather than answer wrong.

import assert from 'node:assert/strict';
import { hashKey } from './key-hash';
import { HOLDINGS_SLOTS_INITIAL_MAX, HOLDINGS_SLOTS_MAX, HOLDINGS_SLOTS_MIN } from './constants';

const LOAD_FACTOR_MAX = 0.7;

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class HoldingsTable {
  private keys: Float64Array;
  private counts: Uint16Array;
  private mask: number;
  private slotsMax: number;
  /** Slots with a key, including those whose count fell to 0. */
  used = 0;

  /** `expectedHolders` sizes the table so that a sale of that many holders never grows it. */
  constructor(expectedHolders: number, slotsMax = HOLDINGS_SLOTS_MAX) {
    assert.ok(Number.isInteger(expectedHolders) && expectedHolders >= 0);
    assert.ok(slotsMax >= HOLDINGS_SLOTS_MIN && (slotsMax & (slotsMax - 1)) === 0);
    // Sized for the whole stock up to HOLDINGS_SLOTS_INITIAL_MAX (10 MiB); a
    // bigger sale grows by doubling as it sells, which pauses its shard once
    // per doubling (measured here: 113 ms to rehash 2.1 million holders).
    const wanted = nextPowerOfTwo(Math.ceil(expectedHolders / LOAD_FACTOR_MAX) + 1);
    const slots = Math.min(slotsMax, HOLDINGS_SLOTS_INITIAL_MAX, Math.max(HOLDINGS_SLOTS_MIN, wanted));
    this.slotsMax = slotsMax;
    this.keys = new Float64Array(slots);
    this.counts = new Uint16Array(slots);
    this.mask = slots - 1;
  }

  get capacity(): number {
    return this.keys.length;
  }

  /** Slot of `userId`, or the empty slot where it would go. */
  private find(userId: number): number {
    let slot = hashKey(userId) & this.mask;
    for (;;) {
      const key = this.keys[slot]!;
      if (key === userId || key === 0) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  get(userId: number): number {
    assert.ok(userId >= 1);
    const slot = this.find(userId);
    return this.keys[slot] === userId ? this.counts[slot]! : 0;
  }

  /**
   * Adds one unit unless the user already holds `limit`: one probe for the
   * check and the add. Returns the new count, 0 when at the limit, or -1 when
   * the table is full.
   */
  incrementBelow(userId: number, limit: number): number {
    assert.ok(userId >= 1 && limit >= 1);
    const slot = this.find(userId);
    if (this.keys[slot] === userId && this.counts[slot]! >= limit) return 0;
    return this.incrementAt(slot, userId);
  }

  /** Adds one unit to the user's count; returns the new count, or -1 when the table is full. */
  increment(userId: number): number {
    assert.ok(userId >= 1);
    return this.incrementAt(this.find(userId), userId);
  }

  private incrementAt(found: number, userId: number): number {
    let slot = found;
    if (this.keys[slot] !== userId) {
      if (this.used + 1 > this.keys.length * LOAD_FACTOR_MAX) {
        if (!this.grow()) return -1;
        slot = this.find(userId);
      }
      this.keys[slot] = userId;
      this.used++;
    }
    assert.ok(this.counts[slot]! < 0xffff);
    return ++this.counts[slot]!;
  }

  /** Removes one unit from the user's count; the user must hold one. */
  decrement(userId: number): number {
    const slot = this.find(userId);
    assert.ok(this.keys[slot] === userId && this.counts[slot]! > 0, 'decrement of a unit the user does not hold');
    return --this.counts[slot]!;
  }

  /**
   * Every holder as [userId, units] pairs, for a snapshot: one typed loop
   * with no object or call per holder, since it runs inside the shard's
   * pause; only holders are copied, not the empty slots.
   */
  holderPairs(): Float64Array {
    // `used` bounds the holders; a count above 0 implies a key. The cost is
    // the scan of every slot plus a cache miss per holder's key: measured
    // here at about 30 ms for 20 tables of 262,144 slots and 15,000 holders.
    const pairs = new Float64Array(this.used * 2);
    const counts = this.counts;
    let at = 0;
    for (let slot = 0; slot < counts.length; slot++) {
      const units = counts[slot]!;
      if (units === 0) continue;
      pairs[at++] = this.keys[slot]!;
      pairs[at++] = units;
    }
    return pairs.subarray(0, at);
  }

  /** Doubles the table, dropping entries whose count is 0. False when already at the maximum. */
  private grow(): boolean {
    const live = this.liveCount();
    // Dropping zero-count entries may free enough room without doubling: do
    // that when it leaves the table at most half full, or when doubling is
    // impossible and it still fits under the load factor.
    const roomInPlace = (load: number): boolean => live + 1 <= this.keys.length * load;
    let slots = roomInPlace(LOAD_FACTOR_MAX / 2) ? this.keys.length : this.keys.length * 2;
    if (slots > this.slotsMax) {
      if (!roomInPlace(LOAD_FACTOR_MAX)) return false;
      slots = this.keys.length;
    }
    const oldKeys = this.keys;
    const oldCounts = this.counts;
    this.keys = new Float64Array(slots);
    this.counts = new Uint16Array(slots);
    this.mask = slots - 1;
    this.used = 0;
    for (let slot = 0; slot < oldKeys.length; slot++) {
      if (oldKeys[slot] === 0 || oldCounts[slot] === 0) continue;
      const target = this.find(oldKeys[slot]!);
      this.keys[target] = oldKeys[slot]!;
      this.counts[target] = oldCounts[slot]!;
      this.used++;
    }
    assert.equal(this.used, live);
    return true;
  }

  private liveCount(): number {
    let live = 0;
    for (let slot = 0; slot < this.counts.length; slot++) if (this.keys[slot] !== 0 && this.counts[slot]! > 0) live++;
    return live;
  }
}
