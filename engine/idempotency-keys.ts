// The idempotency keys of buys (idempotency-key.ts makes them): for each
// (user, key), the item it was used on and the buy's answer, so that a
// retry of the same buy gets the first answer instead of a second unit.
// An entry is in flight from the moment the buy is claimed (buy-gate.ts)
// until its shard answers; then it keeps that answer when it is final
// (won with its order id and payBy, sold_out, limit_reached) and is removed
// when it is not (overloaded, a dead shard, shutting down: the retry should
// run again). Kept answers live as long as the engine: at least the sale.
// Won entries are rebuilt at start-up from the orders' keys in SQLite (the
// key is in the same log record as the order, so a kill -9 loses neither
// without the other); kept refusals are not, and a retry after a restart
// runs again, which the shard then refuses the same way.
//
// Cross-thread design: shared memory with Atomics, as in-flight-users.ts,
// whose structure this follows: an exact open-addressing table in typed
// arrays, linear probing with backward-shift deletion (no tombstones), one
// lock word for the whole table (a backward shift moves entries across any
// stretch of slots), the count written under the lock. Bounded at
// IDEMPOTENCY_KEYS_MAX entries (constants.ts says the memory); when full a
// new key is refused (the caller answers 503 overloaded).
//
//   slot i of `slots` (Float64Array, 5 numbers a slot, 40 B, side by side so
//   that a probe and the entry it finds are one cache line, mostly):
//
//     slots[5i]      user id; 0 marks an empty slot
//     slots[5i + 1]  K, the key's number (1 .. 2^52)
//     slots[5i + 2]  item index * ANSWERS + answer + 1, where answer is
//                    IN_FLIGHT (-1) or the shard's Outcome (0 .. 9)
//     slots[5i + 3]  order id of a won buy, else 0
//     slots[5i + 4]  payBy of a won buy (0: none)

import assert from 'node:assert/strict';
import { createLockWords, lock, unlock } from './atomic-lock';
import { OUTCOME, type Outcome } from './error-catalog';
import { isIdempotencyKey } from './idempotency-key';
import { hashKey, openTableSlots } from './key-hash';

/** control[LOCK]: the table's lock word (atomic-lock.ts). */
const LOCK = 0;
/** control[COUNT]: entries in the table. */
const COUNT = 1;
const CONTROL_WORDS = 2;

const USER = 0;
const KEY = 1;
const ITEM_ANSWER = 2;
const ORDER = 3;
const PAY_BY = 4;
const FIELDS = 5;

const EMPTY = 0;
/** The answer of a buy whose shard has not answered yet. */
const IN_FLIGHT = -1;
/** Answers one item index spans in ITEM_ANSWER: IN_FLIGHT and the outcomes, shifted by one. */
const ANSWERS = 16;

/** What a look or a begin found for (user, key). */
export const KEY_STATE = {
  /** begin() only: the key was new, and is now in flight for this buy. */
  begun: 0,
  /** look() only: no entry; begin() will decide. */
  absent: 1,
  /** The first buy with this key is still with its shard: 409 in_progress. */
  inFlight: 2,
  /** The first buy was answered: `out` holds the answer to replay. */
  done: 3,
  /** The key was used on another item: 422 key_reused. */
  otherItem: 4,
  /** begin() only: the table is full: 503 overloaded. */
  full: 5,
} as const;
export type KeyState = (typeof KEY_STATE)[keyof typeof KEY_STATE];

/** A kept answer, as look() and begin() copy it out. */
export interface KeyAnswer {
  outcome: number;
  orderId: number;
  payBy: number;
}

/** The table's shared memory (layout above). */
export interface IdempotencyViews {
  /** Float64Array(slots * 5): user, key, item and answer, order id, payBy. Under LOCK. */
  slots: Float64Array;
  /** Int32Array(2): [LOCK, COUNT]. */
  control: Int32Array;
}

/** Slots for `capacity` entries (key-hash.ts). */
export const idempotencySlots = openTableSlots;

/**
 * Allocates the table. Its pages are left to the kernel to map on first
 * write, as every shared table's are, so an engine whose buys carry no keys
 * never holds the 80 MiB. The first buys that land on a fresh page pay its
 * fault. Measured here (a micro-benchmark, 2-core EPYC under other load
 * that moves such numbers by half; look, begin and finish of 200,000 random
 * keys of 1,000 users): 0.95 to 1.15 µs a buy on fresh pages, 0.47 to 0.59
 * µs once they were touched, against 15 to 20 µs of engine CPU per won buy.
 * Touching every page at start-up would save the difference but costs
 * about 65 ms of start-up (more on a loaded machine) and 80 MiB of RSS for
 * every engine; not taken.
 */
export function createIdempotencyViews(capacity: number): IdempotencyViews {
  const slots = idempotencySlots(capacity);
  return {
    slots: new Float64Array(new SharedArrayBuffer(slots * FIELDS * Float64Array.BYTES_PER_ELEMENT)),
    control: createLockWords(CONTROL_WORDS),
  };
}

/** Whether the shard's outcome is a final answer that a retry gets again. */
function isKept(outcome: number): boolean {
  return outcome === OUTCOME.ok || outcome === OUTCOME.sold_out || outcome === OUTCOME.limit_reached;
}

function itemAnswer(itemIndex: number, answer: number): number {
  return itemIndex * ANSWERS + answer + 1;
}

export class IdempotencyKeys {
  private readonly slots: Float64Array;
  private readonly control: Int32Array;
  private readonly mask: number;

  /** `capacity` is the most entries the table holds, over every thread that shares `views`. */
  constructor(readonly capacity: number, views: IdempotencyViews = createIdempotencyViews(capacity)) {
    const slots = idempotencySlots(capacity);
    assert.equal(views.slots.length, slots * FIELDS);
    assert.equal(views.control.length, CONTROL_WORDS);
    // Item indexes and outcomes fit ITEM_ANSWER exactly.
    assert.ok(OUTCOME.ended + 1 < ANSWERS);
    this.slots = views.slots;
    this.control = views.control;
    this.mask = slots - 1;
  }

  get size(): number {
    return Atomics.load(this.control, COUNT);
  }

  /** What the table holds for (user, key) as used on `itemIndex`; copies a kept answer into `out`. */
  look(userId: number, key: number, itemIndex: number, out: KeyAnswer): KeyState {
    lock(this.control, LOCK);
    const at = this.slotOf(userId, key);
    const state = this.slots[at + USER] === EMPTY ? KEY_STATE.absent : this.stateAt(at, itemIndex, out);
    unlock(this.control, LOCK);
    return state;
  }

  /**
   * The check that holds across threads: marks (user, key) in flight on
   * `itemIndex` when it is new (begun), else says what is there, as look().
   */
  begin(userId: number, key: number, itemIndex: number, out: KeyAnswer): KeyState {
    assert.ok(userId > 0);
    assert.ok(isIdempotencyKey(key));
    assert.ok(itemIndex >= 0);
    lock(this.control, LOCK);
    const state = this.insert(userId, key, itemIndex, IN_FLIGHT, 0, 0, out);
    unlock(this.control, LOCK);
    return state;
  }

  /**
   * The shard answered the buy that began (user, key): a final answer is
   * kept for retries, any other is forgotten, so that a retry runs again.
   */
  finish(userId: number, key: number, outcome: Outcome, orderId: number, payBy: number): void {
    lock(this.control, LOCK);
    const at = this.slotOf(userId, key);
    const slots = this.slots;
    const wasInFlight = slots[at + USER] === userId && slots[at + ITEM_ANSWER]! % ANSWERS === IN_FLIGHT + 1;
    if (wasInFlight && isKept(outcome)) {
      slots[at + ITEM_ANSWER] = slots[at + ITEM_ANSWER]! + outcome - IN_FLIGHT;
      slots[at + ORDER] = outcome === OUTCOME.ok ? orderId : 0;
      slots[at + PAY_BY] = outcome === OUTCOME.ok ? payBy : 0;
    } else if (wasInFlight) {
      this.deleteAt(at);
    }
    unlock(this.control, LOCK);
    // Only the buy that began a key finishes it, once: the user's one buy in flight.
    assert.ok(wasInFlight, 'an idempotency key finished that was not in flight');
    assert.ok(outcome !== OUTCOME.ok || orderId > 0);
  }

  /** Forgets (user, key) that its buy began and then gave up before its shard (a refused claim). */
  remove(userId: number, key: number): void {
    lock(this.control, LOCK);
    const at = this.slotOf(userId, key);
    const found = this.slots[at + USER] === userId && this.slots[at + ITEM_ANSWER]! % ANSWERS === IN_FLIGHT + 1;
    if (found) this.deleteAt(at);
    unlock(this.control, LOCK);
    assert.ok(found, 'an idempotency key removed that was not in flight');
  }

  /** At start-up: keeps the win of a recovered order. False when the table is full. */
  restoreWon(userId: number, key: number, itemIndex: number, orderId: number, payBy: number): boolean {
    assert.ok(userId > 0 && isIdempotencyKey(key) && orderId > 0);
    const out: KeyAnswer = { outcome: 0, orderId: 0, payBy: 0 };
    lock(this.control, LOCK);
    const state = this.insert(userId, key, itemIndex, OUTCOME.ok, orderId, payBy, out);
    unlock(this.control, LOCK);
    // One order per key: the engine never decides two buys with one key.
    assert.ok(state !== KEY_STATE.done && state !== KEY_STATE.otherItem, 'two orders with one idempotency key');
    return state === KEY_STATE.begun;
  }

  /** The state of the occupied slot at offset `at` for a buy of `itemIndex`. Under the lock. */
  private stateAt(at: number, itemIndex: number, out: KeyAnswer): KeyState {
    const itemAndAnswer = this.slots[at + ITEM_ANSWER]!;
    const answer = (itemAndAnswer % ANSWERS) - 1;
    if (itemAndAnswer - answer - 1 !== itemIndex * ANSWERS) return KEY_STATE.otherItem;
    if (answer === IN_FLIGHT) return KEY_STATE.inFlight;
    out.outcome = answer;
    out.orderId = this.slots[at + ORDER]!;
    out.payBy = this.slots[at + PAY_BY]!;
    return KEY_STATE.done;
  }

  /** Under the lock; never throws, so the caller always unlocks. */
  private insert(userId: number, key: number, itemIndex: number, answer: number, orderId: number, payBy: number,
    out: KeyAnswer): KeyState {
    const at = this.slotOf(userId, key);
    const slots = this.slots;
    if (slots[at + USER] !== EMPTY) return this.stateAt(at, itemIndex, out);
    if (this.control[COUNT]! >= this.capacity) return KEY_STATE.full;
    slots[at + USER] = userId;
    slots[at + KEY] = key;
    slots[at + ITEM_ANSWER] = itemAnswer(itemIndex, answer);
    slots[at + ORDER] = orderId;
    slots[at + PAY_BY] = payBy;
    this.control[COUNT] = this.control[COUNT]! + 1;
    return KEY_STATE.begun;
  }

  private homeOf(userId: number, key: number): number {
    return (hashKey(userId) ^ Math.imul(hashKey(key), 0x9e3779b1)) & this.mask;
  }

  /** The offset of the slot holding (user, key), or of the empty slot that ends its probe run. Under the lock. */
  private slotOf(userId: number, key: number): number {
    const slots = this.slots;
    let slot = this.homeOf(userId, key);
    for (;;) {
      const at = slot * FIELDS;
      const user = slots[at + USER];
      if (user === EMPTY || (user === userId && slots[at + KEY] === key)) return at;
      slot = (slot + 1) & this.mask;
    }
  }

  /**
   * Backward-shift: move later entries of the run into the hole when their
   * home slot allows, so every lookup still finds them without tombstones.
   * `at` is the hole's offset. Under the lock.
   */
  private deleteAt(at: number): void {
    const { slots, mask } = this;
    let hole = at / FIELDS;
    for (let next = (hole + 1) & mask; slots[next * FIELDS + USER] !== EMPTY; next = (next + 1) & mask) {
      const home = this.homeOf(slots[next * FIELDS + USER]!, slots[next * FIELDS + KEY]!);
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!between) {
        slots.copyWithin(hole * FIELDS, next * FIELDS, next * FIELDS + FIELDS);
        hole = next;
      }
    }
    slots.fill(EMPTY, hole * FIELDS, hole * FIELDS + FIELDS);
    this.control[COUNT] = this.control[COUNT]! - 1;
  }
}
