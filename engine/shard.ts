// A shard: the decisions about the items it owns. Everything here is
// synchronous and runs on the shard's one thread (the main thread with
// --workers 0, a worker thread otherwise). Each decision that changes an
// order appends a record to the shard's write-behind log; the caller flushes
// the log before any answer about it leaves the process.

import assert from 'node:assert/strict';
import { drawFile } from '../persistence/data-directory';
import { sequenceOf } from '../persistence/order-id';
import { FAIR_ENTRANTS_MAX, ITEMS_MAX, ORDERS_PER_ITEM_MAX } from './constants';
import { drawPlaces, entrantHash, fairSeed, seedHashOf } from './fair-draw';
import {
  ENTRY_RESULT, ENTRY_RESULT_NAMES, FairWindow, readDrawProof, writeDrawProof, type DrawProof,
} from './fair-window';
import { OUTCOME, type Outcome } from './error-catalog';
import type { ItemBook } from './item-book';
import { ORDER_STATE, PLACE_STATE, RECORD_TYPE } from '../persistence/log-record';
import type { WriteBehindLog } from '../persistence/write-behind-log';
import { PLACE_VIEW, WaitlistQueue } from './waitlist-queue';

export const OP = { buy: 1, getOrder: 2, pay: 3, cancel: 4, restock: 5, entry: 6, joinWaitlist: 7,
  waitlistPlace: 8 } as const;

/**
 * What a shard needs for fair windows (fair-window.ts): the key the seeds
 * come from, and the folder their draws are published in (null: they are
 * not written, for shards made alone in tests).
 */
export interface FairSetup {
  key: string;
  drawDir: string | null;
}

/** What a decision tells about the order it made or read; one is reused per shard. */
export interface OrderView {
  orderId: number;
  userId: number;
  state: number;
  createdAt: number;
  payBy: number;
  /**
   * A place in line: a waitlist place (joinWaitlist, waitlistPlace), with
   * `state` a PLACE_VIEW and, while it waits, the places ahead of it in
   * `createdAt` (it has no order yet; once offered, orderId, createdAt and
   * payBy are the offered order's); or a fair-window entrant's place in the
   * draw (entry), with `state` its ENTRY_RESULT and, when it won, its order.
   */
  place: number;
}

export function emptyOrderView(): OrderView {
  return { orderId: 0, userId: 0, state: 0, createdAt: 0, payBy: 0, place: 0 };
}

/**
 * Per-item decision counters: item i's counter c is at
 * i * COUNTER_FIELDS + c of a Float64Array shared with the HTTP thread, so
 * stats and metrics read them at their own pace without asking the shard.
 * Orders by state are counted from the start of the sale (start-up counts
 * the recovered orders); refusals are counted since the engine started.
 */
export const COUNTER = { won: 0, soldOut: 1, limitReached: 2, expired: 3, cancelled: 4, paid: 5, entered: 6 } as const;
export const COUNTER_FIELDS = 8;

export class Shard {
  /** Books whose fair window has entrants and no draw yet. */
  private readonly undrawn: ItemBook[] = [];
  /** Draws made since the last log flush, published by publishDraws() after it. */
  private readonly unpublished: { book: ItemBook; proof: DrawProof }[] = [];

  /**
   * `books[local]` is the item with local index `local`; `left` is indexed by
   * global item index and shared with the HTTP thread, which reads it to
   * refuse sold-out buys without a round trip.
   */
  constructor(
    readonly index: number,
    readonly books: ItemBook[],
    readonly log: WriteBehindLog,
    private readonly left: Int32Array,
    readonly counters: Float64Array,
    private readonly fair: FairSetup = { key: '', drawDir: null },
    /** The highest waitlist place offered per global item index (shared-state.ts), read by the pushes. */
    private readonly waitlistServed: Int32Array = new Int32Array(ITEMS_MAX),
  ) {
    for (const book of books) {
      this.publishLeft(book);
      this.countRecovered(book);
      this.publishServed(book);
      this.adoptFairWindow(book);
    }
  }

  /** Takes a book for an item created while the engine runs; its local index is the next one. */
  addBook(book: ItemBook): void {
    this.books.push(book);
    this.publishLeft(book);
    this.countRecovered(book);
    this.publishServed(book);
  }

  /**
   * A book loaded with entrants: its draw is read back from its published
   * proof, or, when none was written, is still to be made.
   */
  private adoptFairWindow(book: ItemBook): void {
    const fair = book.fair;
    if (fair === null) return;
    this.counters[book.globalIndex * COUNTER_FIELDS + COUNTER.entered] = fair.count;
    const proof = this.fair.drawDir === null ? null : readDrawProof(drawFile(this.fair.drawDir, book.row, fair.drawAt));
    if (proof === null) return void this.undrawn.push(book);
    const seedHex = this.seedOf(book, fair.drawAt).toString('hex');
    assert.ok(fair.restore(proof, (userId) => entrantHash(seedHex, userId)),
      `item row ${book.row}: the published draw does not match the logged entries`);
  }

  /** Starts the order counters of a book loaded from the database. */
  private countRecovered(book: ItemBook): void {
    const base = book.globalIndex * COUNTER_FIELDS;
    this.counters[base + COUNTER.won] = book.orderCount;
    for (let sequence = 1; sequence <= book.orderCount; sequence++) {
      const state = book.orderState[sequence];
      if (state === ORDER_STATE.paid) this.counters[base + COUNTER.paid]!++;
      else if (state === ORDER_STATE.cancelled) this.counters[base + COUNTER.cancelled]!++;
      else if (state === ORDER_STATE.expired) this.counters[base + COUNTER.expired]!++;
    }
  }

  private count(book: ItemBook, counter: number): void {
    this.counters[book.globalIndex * COUNTER_FIELDS + counter]!++;
  }

  /**
   * Decides `op` on the item with local index `local`. `argument` is what the
   * op needs beyond item and user (shard-ring.ts draws the slot): the
   * order's sequence for getOrder, pay and cancel, the units for restock,
   * the idempotency key (0: none) for buy, nothing for the waitlist ops.
   */
  run(op: number, local: number, userId: number, argument: number, nowMs: number, out: OrderView): Outcome {
    const book = this.books[local];
    assert.ok(book !== undefined, 'request for an item this shard does not own');
    switch (op) {
      case OP.buy: return this.buy(book, userId, argument, nowMs, out);
      case OP.getOrder: return this.readOrder(book, argument, userId, out);
      case OP.pay: return this.pay(book, argument, userId, nowMs, out);
      case OP.cancel: return this.cancel(book, argument, userId, nowMs, out);
      case OP.restock: return this.restock(book, argument, nowMs);
      case OP.joinWaitlist: return this.joinWaitlist(book, userId, nowMs, out);
      case OP.waitlistPlace: return this.waitlistPlace(book, userId, out);
      case OP.entry: return this.readEntry(book, userId, out);
      default: throw new Error(`unknown shard op ${op}`);
    }
  }

  /**
   * `key` is the buy's idempotency key (0: none): it goes into the won
   * record, beside the order it won. A buy inside the item's fair window is
   * an entry; the first buy after it, or the timer, draws the window first.
   */
  private buy(book: ItemBook, userId: number, key: number, nowMs: number, out: OrderView): Outcome {
    if (nowMs >= book.endsAt) return OUTCOME.ended;
    const drawAt = book.drawAt;
    if (drawAt > 0) {
      if (nowMs < drawAt && book.fair?.drawn !== true) return this.enter(book, userId, key, nowMs);
      if (book.fair !== null && !book.fair.drawn) this.draw(book, nowMs);
      // A retry of an entry with its key gets what the draw decided for it.
      if (key !== 0 && book.fair !== null) {
        const entrant = book.fair.indexOf(userId);
        if (entrant >= 0 && book.fair.keys[entrant] === key) return this.entryOutcome(book, entrant, out);
      }
    }
    return this.sell(book, userId, key, nowMs, out);
  }

  /** Decides a buy on its merits: the one place a unit is sold. */
  private sell(book: ItemBook, userId: number, key: number, nowMs: number, out: OrderView): Outcome {
    // Sold out is answered before the per-user check, even to a holder, so
    // that the HTTP thread can give the same answer from `left` alone.
    if (book.left === 0) return this.refuse(book, OUTCOME.sold_out);
    if (book.orderCount === ORDERS_PER_ITEM_MAX) return OUTCOME.overloaded;
    const held = book.holdings.incrementBelow(userId, book.perUserLimit);
    if (held === 0) return this.refuse(book, OUTCOME.limit_reached);
    if (held < 0) return OUTCOME.overloaded;
    const sequence = ++book.orderCount;
    book.ensureSlot(sequence);
    const state = book.reserve ? ORDER_STATE.reserved : ORDER_STATE.confirmed;
    const payBy = book.reserve ? nowMs + book.payWindowMs : 0;
    book.orderUser[sequence] = userId;
    book.orderState[sequence] = state;
    book.orderCreatedAt[sequence] = nowMs;
    book.orderPayBy[sequence] = payBy;
    book.left--;
    assert.ok(book.left >= 0);
    this.publishLeft(book);
    this.count(book, COUNTER.won);
    const orderId = book.orderId(sequence);
    this.log.append(RECORD_TYPE.won, state, orderId, userId, nowMs, payBy, nowMs, key);
    return this.view(book, sequence, out);
  }

  /** Enters `userId` into the item's fair window, once; the answer says when the draw is. */
  private enter(book: ItemBook, userId: number, key: number, nowMs: number): Outcome {
    if (book.fair !== null && book.fair.drawAt !== book.drawAt) {
      // An admin moved the item's start (allowed only while it is not live): a new round, a new window.
      const waiting = this.undrawn.indexOf(book);
      if (waiting >= 0) this.undrawn.splice(waiting, 1);
      book.fair = null;
    }
    if (book.fair === null) {
      book.fair = new FairWindow(book.drawAt);
      this.undrawn.push(book);
    }
    const fair = book.fair;
    if (fair.indexOf(userId) >= 0) return OUTCOME.entered;
    if (fair.count === FAIR_ENTRANTS_MAX) return OUTCOME.overloaded;
    const entrant = fair.add(userId, key);
    this.count(book, COUNTER.entered);
    this.log.append(RECORD_TYPE.entered, 0, book.orderId(entrant), userId, nowMs, fair.drawAt, nowMs, key);
    return OUTCOME.entered;
  }

  /** Draws every fair window that closed by `nowMs` (the timer's side of draw()); returns how many. */
  drawDue(nowMs: number): number {
    let drawn = 0;
    for (let i = this.undrawn.length - 1; i >= 0; i--) {
      const book = this.undrawn[i]!;
      if (nowMs >= book.fair!.drawAt) {
        this.draw(book, nowMs);
        drawn++;
      }
    }
    return drawn;
  }

  /** When the next fair window closes (Infinity: none is waiting), for a shard that sleeps until then. */
  nextDrawAt(): number {
    let next = Infinity;
    for (const book of this.undrawn) next = Math.min(next, book.fair!.drawAt);
    return next;
  }

  /**
   * Draws the places of the item's entrants (fair-draw.ts) and decides
   * their buys in that order. An entrant that already holds an order of the
   * item won it in this same draw before a crash (nothing else can sell
   * before the draw): it keeps that order instead of buying again.
   */
  private draw(book: ItemBook, nowMs: number): void {
    const fair = book.fair!;
    assert.ok(!fair.drawn);
    this.undrawn.splice(this.undrawn.indexOf(book), 1);
    const seed = this.seedOf(book, fair.drawAt);
    const seedHex = seed.toString('hex');
    const byHash = new Map(fair.users.map((user, index) => [entrantHash(seedHex, user), index]));
    const places = drawPlaces(seed, [...byHash.keys()]);
    const held = book.orderCount > 0 ? firstOrders(book) : null;
    const proof: DrawProof = { drawAt: fair.drawAt, seedHash: seedHashOf(seed), seed: seedHex, left: book.left,
      entrants: [...byHash.keys()].sort(), places: [] };
    fair.beginDraw();
    const view = emptyOrderView();
    for (let place = 0; place < places.length; place++) {
      const entrant = byHash.get(places[place]!)!;
      const user = fair.users[entrant]!;
      const kept = held?.get(user);
      const outcome = kept === undefined ? this.sell(book, user, fair.keys[entrant]!, nowMs, view) : OUTCOME.ok;
      const sequence = kept ?? (outcome === OUTCOME.ok ? sequenceOf(view.orderId) : 0);
      fair.places[entrant] = place + 1;
      fair.results[entrant] = entryResultOf(outcome);
      fair.sequences[entrant] = sequence;
      proof.places.push({ entrant: places[place]!, result: ENTRY_RESULT_NAMES[fair.results[entrant]!]!,
        order: sequence === 0 ? null : String(book.orderId(sequence)) });
    }
    fair.drawn = true;
    this.unpublished.push({ book, proof });
  }

  /**
   * Writes the proofs of the draws made since the last flush. The caller
   * calls it right after each log flush and before any other decision, so
   * a proof is on disk only once every order it names is in the log.
   */
  publishDraws(): void {
    if (this.unpublished.length === 0) return;
    assert.equal(this.log.pending, 0, 'a draw is published only after its records are written');
    for (const { book, proof } of this.unpublished) {
      if (this.fair.drawDir !== null) writeDrawProof(drawFile(this.fair.drawDir, book.row, proof.drawAt), proof);
    }
    this.unpublished.length = 0;
  }

  private seedOf(book: ItemBook, drawAt: number): Buffer {
    return fairSeed(this.fair.key, book.row, drawAt);
  }

  /** An entrant's answer: entered before the draw; after it, its won order or the refusal it drew. */
  private entryOutcome(book: ItemBook, entrant: number, out: OrderView): Outcome {
    const fair = book.fair!;
    if (!fair.drawn) return OUTCOME.entered;
    switch (fair.results[entrant]) {
      case ENTRY_RESULT.won: return this.view(book, fair.sequences[entrant]!, out);
      case ENTRY_RESULT.limit_reached: return OUTCOME.limit_reached;
      case ENTRY_RESULT.overloaded: return OUTCOME.overloaded;
      default: return OUTCOME.sold_out;
    }
  }

  /**
   * GET .../entry: where the user stands in the item's fair window. After
   * the draw `out` tells the place and the result (OrderView.place), with
   * the won order.
   */
  private readEntry(book: ItemBook, userId: number, out: OrderView): Outcome {
    const fair = book.fair;
    const entrant = fair === null || fair.drawAt !== book.drawAt ? -1 : fair.indexOf(userId);
    if (entrant < 0) return OUTCOME.not_entered;
    if (!fair!.drawn) return OUTCOME.entered;
    const result = fair!.results[entrant]!;
    const sequence = fair!.sequences[entrant]!;
    if (result === ENTRY_RESULT.won) this.view(book, sequence, out);
    else out.orderId = out.payBy = 0;
    out.userId = userId;
    out.state = result;
    out.place = fair!.places[entrant]!;
    return OUTCOME.ok;
  }

  private readOrder(book: ItemBook, sequence: number, userId: number, out: OrderView): Outcome {
    if (!this.isOwner(book, sequence, userId)) return OUTCOME.unknown_order;
    return this.view(book, sequence, out);
  }

  private pay(book: ItemBook, sequence: number, userId: number, nowMs: number, out: OrderView): Outcome {
    if (!this.isOwner(book, sequence, userId)) return OUTCOME.unknown_order;
    this.expireIfDue(book, sequence, nowMs);
    switch (book.orderState[sequence]) {
      case ORDER_STATE.reserved:
        book.orderState[sequence] = ORDER_STATE.paid;
        this.count(book, COUNTER.paid);
        this.appendTransition(book, sequence, RECORD_TYPE.paid, nowMs);
        return this.view(book, sequence, out);
      case ORDER_STATE.paid: return this.view(book, sequence, out);
      case ORDER_STATE.expired: return OUTCOME.expired;
      case ORDER_STATE.cancelled: return OUTCOME.cancelled;
      default: return OUTCOME.not_reserved;
    }
  }

  private cancel(book: ItemBook, sequence: number, userId: number, nowMs: number, out: OrderView): Outcome {
    if (!this.isOwner(book, sequence, userId)) return OUTCOME.unknown_order;
    this.expireIfDue(book, sequence, nowMs);
    switch (book.orderState[sequence]) {
      case ORDER_STATE.reserved:
        this.release(book, sequence, ORDER_STATE.cancelled, RECORD_TYPE.cancelled, nowMs);
        this.count(book, COUNTER.cancelled);
        return this.view(book, sequence, out);
      // A second cancel answers the same and returns nothing a second time.
      case ORDER_STATE.cancelled: return this.view(book, sequence, out);
      case ORDER_STATE.paid: return OUTCOME.already_paid;
      case ORDER_STATE.expired: return OUTCOME.expired;
      default: return OUTCOME.not_reserved;
    }
  }

  /**
   * Adds `units` to the item's stock, at once (admin restock): to the
   * waitlist's places first, the rest to `left`. The database holds the new
   * stock before this runs, so a crash in between loses nothing.
   */
  private restock(book: ItemBook, units: number, nowMs: number): Outcome {
    assert.ok(Number.isSafeInteger(units) && units > 0);
    book.stock += units;
    let offered = 0;
    while (offered < units && this.offerReturned(book, nowMs)) offered++;
    book.left += units - offered;
    this.publishLeft(book);
    return OUTCOME.ok;
  }

  /** Expires reserved orders whose payBy has come; returns how many. */
  sweep(nowMs: number): number {
    let expired = 0;
    for (const book of this.books) {
      if (!book.reserve) continue;
      // Reservations of one item are made in time order with one pay window,
      // so payBy never decreases along the sequence and the sweep stops at
      // the first reservation still running.
      while (book.expiryCursor <= book.orderCount) {
        const sequence = book.expiryCursor;
        if (book.orderState[sequence] === ORDER_STATE.reserved) {
          if (book.orderPayBy[sequence]! > nowMs) break;
          this.expire(book, sequence, nowMs);
          expired++;
        }
        book.expiryCursor++;
      }
    }
    return expired;
  }

  private expireIfDue(book: ItemBook, sequence: number, nowMs: number): void {
    if (book.orderState[sequence] === ORDER_STATE.reserved && nowMs >= book.orderPayBy[sequence]!) {
      this.expire(book, sequence, nowMs);
    }
  }

  private expire(book: ItemBook, sequence: number, nowMs: number): void {
    this.release(book, sequence, ORDER_STATE.expired, RECORD_TYPE.expired, nowMs);
    this.count(book, COUNTER.expired);
  }

  /**
   * Ends a reservation and returns its unit: to the first waiting place of
   * the item's waitlist if one takes it, else to stock. With restock, the
   * one place a unit comes back.
   */
  private release(book: ItemBook, sequence: number, state: number, recordType: number, nowMs: number): void {
    assert.equal(book.orderState[sequence], ORDER_STATE.reserved, 'only a reservation can be released');
    book.orderState[sequence] = state;
    book.holdings.decrement(book.orderUser[sequence]!);
    // Its record before the offer's: the applier sees the unit freed before it is held again.
    this.appendTransition(book, sequence, recordType, nowMs);
    if (this.offerReturned(book, nowMs)) return;
    book.left++;
    assert.ok(book.left <= book.stock);
    this.publishLeft(book);
  }

  /**
   * A place on the item's waitlist for the user, only while the item is
   * sold out; a user who has one gets the same place again. A new place is
   * answered only after its waitlisted record is in the log, as a won buy.
   */
  private joinWaitlist(book: ItemBook, userId: number, nowMs: number, out: OrderView): Outcome {
    if (!book.waitlistOpen) return OUTCOME.no_waitlist;
    const known = book.waitlist?.placeOf(userId) ?? 0;
    if (known > 0) return this.placeView(book, known, out);
    if (nowMs >= book.endsAt) return OUTCOME.ended;
    if (book.left > 0) return OUTCOME.not_sold_out;
    if (book.holdings.get(userId) >= book.perUserLimit) return OUTCOME.limit_reached;
    book.waitlist ??= new WaitlistQueue();
    const place = book.waitlist.join(userId);
    if (place === 0) return OUTCOME.waitlist_full;
    this.log.append(RECORD_TYPE.waitlisted, PLACE_STATE.waiting, book.orderId(place), userId, nowMs, 0, nowMs);
    return this.placeView(book, place, out);
  }

  private waitlistPlace(book: ItemBook, userId: number, out: OrderView): Outcome {
    const place = book.waitlist?.placeOf(userId) ?? 0;
    return place === 0 ? OUTCOME.not_waiting : this.placeView(book, place, out);
  }

  /** Fills `out` with the place (OrderView says how). */
  private placeView(book: ItemBook, place: number, out: OrderView): Outcome {
    const queue = book.waitlist!;
    const outcome = queue.outcomeOf(place);
    out.place = place;
    out.userId = queue.userAt(place);
    out.orderId = 0;
    out.payBy = 0;
    if (outcome > 0) {
      out.state = PLACE_VIEW.offered;
      out.orderId = book.orderId(outcome);
      out.createdAt = book.orderCreatedAt[outcome]!;
      out.payBy = book.orderPayBy[outcome]!;
    } else {
      out.state = outcome === 0 ? PLACE_VIEW.waiting : PLACE_VIEW.dropped;
      out.createdAt = queue.ahead(place);
    }
    return OUTCOME.ok;
  }

  /**
   * Gives a unit that came back to the first waiting place, as a new
   * reservation of its user with a pay window of its own, in one won record
   * that names the place. Places whose user holds the per-user limit by now
   * are dropped on the way. False when no place takes the unit (none waits,
   * the sale is over, or no order fits), which then goes to `left`.
   */
  private offerReturned(book: ItemBook, nowMs: number): boolean {
    const queue = book.waitlist;
    if (queue === null || !book.reserve || nowMs >= book.endsAt) return false;
    while (queue.waiting > 0 && book.orderCount < ORDERS_PER_ITEM_MAX) {
      const place = queue.head;
      const userId = queue.userAt(place);
      const held = book.holdings.incrementBelow(userId, book.perUserLimit);
      if (held < 0) return false;
      if (held === 0) {
        queue.drop(place);
        this.log.append(RECORD_TYPE.waitlisted, PLACE_STATE.dropped, book.orderId(place), userId, nowMs, 0, nowMs);
        continue;
      }
      const sequence = ++book.orderCount;
      book.ensureSlot(sequence);
      // The expiry sweep stops at the first reservation still running, so
      // payBy must not decrease along the sequence. An offer is made now
      // with the item's one pay window, as a buy is; the max only absorbs a
      // buy just before it stamped later by another HTTP thread's clock.
      const previous = sequence - 1;
      const floor = book.orderState[previous] === ORDER_STATE.reserved ? book.orderPayBy[previous]! : 0;
      const payBy = Math.max(nowMs + book.payWindowMs, floor);
      assert.ok(payBy > nowMs && payBy >= floor, 'an offer keeps payBy non-decreasing along the sequence');
      book.orderUser[sequence] = userId;
      book.orderState[sequence] = ORDER_STATE.reserved;
      book.orderCreatedAt[sequence] = nowMs;
      book.orderPayBy[sequence] = payBy;
      queue.offer(place, sequence);
      this.count(book, COUNTER.won);
      this.log.append(RECORD_TYPE.won, ORDER_STATE.reserved, book.orderId(sequence), userId, nowMs, payBy, nowMs,
        0, place);
      this.publishServed(book);
      return true;
    }
    return false;
  }

  private appendTransition(book: ItemBook, sequence: number, recordType: number, nowMs: number): void {
    this.log.append(recordType, book.orderState[sequence]!, book.orderId(sequence), book.orderUser[sequence]!, nowMs,
      book.orderPayBy[sequence]!, book.orderCreatedAt[sequence]!);
  }

  private isOwner(book: ItemBook, sequence: number, userId: number): boolean {
    return sequence >= 1 && sequence <= book.orderCount && book.orderState[sequence] !== 0
      && book.orderUser[sequence] === userId;
  }

  private view(book: ItemBook, sequence: number, out: OrderView): Outcome {
    out.orderId = book.orderId(sequence);
    out.userId = book.orderUser[sequence]!;
    out.state = book.orderState[sequence]!;
    out.createdAt = book.orderCreatedAt[sequence]!;
    out.payBy = book.orderPayBy[sequence]!;
    return OUTCOME.ok;
  }

  private refuse(book: ItemBook, outcome: Outcome): Outcome {
    this.count(book, outcome === OUTCOME.sold_out ? COUNTER.soldOut : COUNTER.limitReached);
    return outcome;
  }

  private publishLeft(book: ItemBook): void {
    Atomics.store(this.left, book.globalIndex, book.left);
  }

  private publishServed(book: ItemBook): void {
    Atomics.store(this.waitlistServed, book.globalIndex, book.waitlist?.served ?? 0);
  }
}

/** The first order of each user of the book, by sequence: who won in a draw cut short by a crash. */
function firstOrders(book: ItemBook): Map<number, number> {
  const first = new Map<number, number>();
  for (let sequence = book.orderCount; sequence >= 1; sequence--) first.set(book.orderUser[sequence]!, sequence);
  return first;
}

function entryResultOf(outcome: Outcome): number {
  switch (outcome) {
    case OUTCOME.ok: return ENTRY_RESULT.won;
    case OUTCOME.limit_reached: return ENTRY_RESULT.limit_reached;
    case OUTCOME.sold_out: return ENTRY_RESULT.sold_out;
    default: return ENTRY_RESULT.overloaded;
  }
}
