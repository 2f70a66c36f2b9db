// An insert-only table of entries keyed by two numbers, for the bot-signal
// tables (suspect-users.ts, address-users.ts): an open-addressing index of
// Int32 entry numbers over dense entries of Float64 fields, so that a reader
// copies only the entries in use, in the order they came, and an entry's
// number never changes (another table may name it). Entries are never
// removed: the tables keep what they saw for the engine's life, like the
// idempotency keys, and a full table refuses new keys (its owner counts
// them) instead of growing.
//
// It takes no lock itself: its owner holds its own lock word around every
// call, and writes the count and the entries under it.
//
//   slots    Int32Array(openTableSlots(capacity)): entry number + 1, 0 empty
//   entries  Float64Array(capacity * fields): entry n at n * fields;
//            fields 0 and 1 are the key (the first never 0), the rest
//            the owner's
//   control  the owner's Int32 words; control[countWord] is the entry count

import assert from 'node:assert/strict';
import { hashKey, openTableSlots } from './key-hash';

/** Fields 0 and 1 of an entry: its key. */
export const KEY_FIRST = 0;
export const KEY_SECOND = 1;
/** What findOrAdd() answers when the table is full and the key is new. */
export const TABLE_FULL = -1;

/** A table's shared memory. */
export interface KeyedEntriesViews {
  slots: Int32Array;
  entries: Float64Array;
}

export function createKeyedEntriesViews(capacity: number, fields: number): KeyedEntriesViews {
  return {
    slots: new Int32Array(new SharedArrayBuffer(openTableSlots(capacity) * Int32Array.BYTES_PER_ELEMENT)),
    entries: new Float64Array(new SharedArrayBuffer(capacity * fields * Float64Array.BYTES_PER_ELEMENT)),
  };
}

export class KeyedEntries {
  readonly entries: Float64Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** True when the last findOrAdd() added its key. */
  added = false;

  constructor(readonly capacity: number, readonly fields: number, views: KeyedEntriesViews,
    private readonly control: Int32Array, private readonly countWord: number) {
    assert.ok(fields >= 2);
    assert.equal(views.slots.length, openTableSlots(capacity));
    assert.equal(views.entries.length, capacity * fields);
    this.slots = views.slots;
    this.entries = views.entries;
    this.mask = views.slots.length - 1;
  }

  /** Entries in use (read under the owner's lock, or with Atomics.load for a glance). */
  get count(): number {
    return this.control[this.countWord]!;
  }

  /** The entry number of (first, second), or -1. Under the owner's lock. */
  find(first: number, second: number): number {
    const slot = this.slotOf(first, second);
    return this.slots[slot]! - 1;
  }

  /**
   * The entry number of (first, second), added with its other fields 0 when
   * absent (`added` says which); TABLE_FULL when absent and the table is
   * full. Under the owner's lock; never throws, so the owner always unlocks.
   */
  findOrAdd(first: number, second: number): number {
    const slot = this.slotOf(first, second);
    const found = this.slots[slot]!;
    this.added = false;
    if (found !== 0) return found - 1;
    const count = this.control[this.countWord]!;
    if (count >= this.capacity) return TABLE_FULL;
    const at = count * this.fields;
    this.entries[at + KEY_FIRST] = first;
    this.entries[at + KEY_SECOND] = second;
    this.slots[slot] = count + 1;
    this.control[this.countWord] = count + 1;
    this.added = true;
    return count;
  }

  /** The slot holding (first, second), or the empty slot that ends its probe run. */
  private slotOf(first: number, second: number): number {
    const { slots, entries, fields, mask } = this;
    let slot = (hashKey(first) ^ Math.imul(hashKey(second), 0x9e3779b1)) & mask;
    for (;;) {
      const entry = slots[slot]!;
      if (entry === 0) return slot;
      const at = (entry - 1) * fields;
      if (entries[at + KEY_FIRST] === first && entries[at + KEY_SECOND] === second) return slot;
      slot = (slot + 1) & mask;
    }
  }
}
