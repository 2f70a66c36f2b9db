// One item's waitlist inside the shard that owns it: places 1, 2, 3, ... in
// join order, one per user, each waiting until a unit that comes back
// (cancel, expiry, restock) is offered to it as a reservation of its own.
// Offers go strictly in place order, so the places fall into two runs:
//
//   place   1 .. head - 1          head .. count
//           offered or dropped     waiting
//
// and the places ahead of a waiting place are `place - head`, with no scan.
// A place is dropped, instead of offered, when its user holds the per-user
// limit by the time its turn comes. Only the owning shard's thread touches
// a queue.

import assert from 'node:assert/strict';
import type { Db } from '../persistence/database';
import { sequenceOf } from '../persistence/order-id';
import { WAITLIST_PLACES_MAX } from './constants';

/** What became of a place: its order's sequence once offered, DROPPED when skipped, WAITING before. */
export const WAITING = 0;
export const DROPPED = -1;

const PLACE_SLOTS_MIN = 64;

/** A place as the waitlist ops answer it (shard.ts OrderView), and its name in the answers. */
export const PLACE_VIEW = { waiting: 1, offered: 2, dropped: 3 } as const;
export const PLACE_VIEW_NAMES = ['', 'waiting', 'offered', 'dropped'] as const;

export class WaitlistQueue {
  /** Places given so far; the next join gets count + 1. */
  count = 0;
  /** The lowest place still waiting (count + 1 when none waits). */
  head = 1;
  /** The highest place offered a unit so far (0: none), what the `waitlist` push publishes. */
  served = 0;
  /** User of each place, indexed by place (slot 0 unused). */
  private users = new Float64Array(PLACE_SLOTS_MIN);
  /** Per place: WAITING, DROPPED, or the sequence (within the item) of the order it was offered. */
  private outcomes = new Float64Array(PLACE_SLOTS_MIN);
  private readonly placeByUser = new Map<number, number>();

  constructor(readonly capacity = WAITLIST_PLACES_MAX) {
    assert.ok(Number.isSafeInteger(capacity) && capacity >= 1 && capacity <= WAITLIST_PLACES_MAX);
  }

  /** Places waiting for a unit. */
  get waiting(): number {
    return this.count - this.head + 1;
  }

  /** The user's place, 0 when the user has none. */
  placeOf(userId: number): number {
    return this.placeByUser.get(userId) ?? 0;
  }

  /** Gives `userId` the next place and returns it; 0 when the queue is full. The user must have none. */
  join(userId: number): number {
    assert.equal(this.placeOf(userId), 0, 'one place per user');
    if (this.count === this.capacity) return 0;
    const place = ++this.count;
    this.ensureSlot(place);
    this.users[place] = userId;
    this.outcomes[place] = WAITING;
    this.placeByUser.set(userId, place);
    return place;
  }

  /** Waiting places before `place`; 0 for a place no longer waiting. */
  ahead(place: number): number {
    return place >= this.head ? place - this.head : 0;
  }

  userAt(place: number): number {
    assert.ok(place >= 1 && place <= this.count);
    return this.users[place]!;
  }

  /** WAITING, DROPPED, or the sequence of the order the place was offered. */
  outcomeOf(place: number): number {
    assert.ok(place >= 1 && place <= this.count);
    return this.outcomes[place]!;
  }

  /** The head place got the order with sequence `sequence`. */
  offer(place: number, sequence: number): void {
    assert.equal(place, this.head, 'offers go in place order');
    assert.ok(place <= this.count && sequence >= 1);
    this.outcomes[place] = sequence;
    this.served = place;
    this.head++;
  }

  /** The head place is skipped: its user holds the per-user limit. */
  drop(place: number): void {
    assert.equal(place, this.head, 'only the head place is dropped');
    assert.ok(place <= this.count);
    this.outcomes[place] = DROPPED;
    this.head++;
  }

  /**
   * Puts a place read back from the database (start-up only, in place
   * order): `outcome` as outcomeOf says. What is settled (offered or
   * dropped) must come before everything still waiting.
   */
  restore(place: number, userId: number, outcome: number): void {
    assert.equal(place, this.count + 1, 'places are restored in order, with no gap');
    assert.ok(place <= this.capacity);
    const settled = outcome !== WAITING;
    assert.ok(!settled || this.head === place, 'a settled place after a waiting one');
    this.count = place;
    this.ensureSlot(place);
    this.users[place] = userId;
    this.outcomes[place] = outcome;
    this.placeByUser.set(userId, place);
    if (settled) this.head = place + 1;
    if (outcome > 0) this.served = place;
  }

  private ensureSlot(place: number): void {
    if (place < this.users.length) return;
    const slots = Math.min(this.users.length * 2, this.capacity + 1);
    assert.ok(place < slots);
    const users = new Float64Array(slots);
    users.set(this.users);
    this.users = users;
    const outcomes = new Float64Array(slots);
    outcomes.set(this.outcomes);
    this.outcomes = outcomes;
  }
}

/** The waitlist of the item with row `itemRow` as SQLite holds it (start-up only); null when it has no place. */
export function loadWaitlist(db: Db, itemRow: number): WaitlistQueue | null {
  const rows = db.prepare('SELECT place, user_id, order_id, dropped_at FROM waitlist WHERE item_row = ? ' +
    'ORDER BY place').raw().all(itemRow) as [number, number, number | null, number | null][];
  if (rows.length === 0) return null;
  const queue = new WaitlistQueue();
  for (const [place, userId, orderId, droppedAt] of rows) {
    const outcome = orderId !== null ? sequenceOf(orderId) : droppedAt !== null ? DROPPED : WAITING;
    queue.restore(place, userId, outcome);
  }
  return queue;
}
