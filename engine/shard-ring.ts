// Single-producer single-consumer rings on SharedArrayBuffers: how the HTTP
// thread feeds a shard worker and how the worker answers, with no
// postMessage or structured clone per request.
//
//   header: Int32Array(4) on its own SharedArrayBuffer
//     [0] head      next slot the producer writes (counts up, wraps at 2^31)
//     [1] tail      next slot the consumer reads
//     [2] sleeping  1 while the consumer is (about to be) blocked in Atomics.wait
//     [3] unused
//   slots: Float64Array(capacity * fields) on a second SharedArrayBuffer
//
//   producer: write slot[head & mask], then Atomics.store(head, head + 1)
//   consumer: read slot[tail & mask] while tail != head, then store tail
//
// Every field is a float64, so user ids, order sequences and times (ms) are
// exact integers up to 2^53. A request slot (REQUEST, 6 fields, 48 B):
//
//   +0        +1        +2        +3        +4         +5
//   +---------+---------+---------+---------+----------+---------+
//   | op      | token   | item    | user    | argument | nowMs   |
//   +---------+---------+---------+---------+----------+---------+
//
//   op        shard.ts OP, or a CONTROL_OP (shard-worker.ts)
//   token     the HTTP thread's pending-request index, echoed in the answer;
//             -1 for control requests, which get no answer in the ring
//   item      the item's index local to the shard
//   user      the user asking
//   argument  what the op needs beyond item and user: the order's sequence
//             within its item for getOrder, pay and cancel; the units to add
//             for restock; 0 for buy, which makes a new order
//   nowMs     the HTTP thread's clock when the request arrived
//
// An addItem control request carries the new item instead (ADD_ITEM): its
// global index, 1 when its mode is reserve, its row and its stock.
//
// An answer slot (ANSWER, 8 fields, 64 B):
//
//   +0      +1        +2        +3      +4      +5          +6      +7
//   +-------+---------+---------+-------+-------+-----------+-------+--------+
//   | token | outcome | orderId | user  | state | createdAt | payBy | unused |
//   +-------+---------+---------+-------+-------+-----------+-------+--------+
//
// The producer never overruns the consumer because the HTTP thread bounds a
// shard's in-flight requests to its token pool (the answer ring's size, half
// the request ring's, which leaves room for control requests), and each
// request has exactly one answer.

import assert from 'node:assert/strict';
import type { Outcome } from './error-catalog';
import type { OrderView } from './shard';

export const HEAD = 0;
export const TAIL = 1;
export const SLEEPING = 2;
const HEADER_FIELDS = 4;

/** Field offsets inside a request slot; `argument` means what the layout above says for each op. */
export const REQUEST = { op: 0, token: 1, item: 2, user: 3, argument: 4, nowMs: 5 } as const;
export const REQUEST_FIELDS = 6;

/** Field offsets of an addItem control request, which carries the item instead of a user's request. */
export const ADD_ITEM = { op: REQUEST.op, token: REQUEST.token, itemIndex: 2, reserve: 3, row: 4, stock: 5 } as const;

/** Field offsets inside an answer slot. */
export const ANSWER = { token: 0, outcome: 1, orderId: 2, user: 3, state: 4, createdAt: 5, payBy: 6 } as const;
export const ANSWER_FIELDS = 8;

/** A ring's shared memory as typed views; they cross postMessage as views on the same memory. */
export interface RingViews {
  header: Int32Array;
  slots: Float64Array;
  capacity: number;
  fields: number;
}

export function createRing(capacity: number, fields: number): RingViews {
  assert.ok(capacity > 0 && (capacity & (capacity - 1)) === 0, 'ring capacity must be a power of two');
  assert.ok(fields === REQUEST_FIELDS || fields === ANSWER_FIELDS);
  return {
    header: new Int32Array(new SharedArrayBuffer(HEADER_FIELDS * Int32Array.BYTES_PER_ELEMENT)),
    slots: new Float64Array(new SharedArrayBuffer(capacity * fields * Float64Array.BYTES_PER_ELEMENT)),
    capacity,
    fields,
  };
}

export class Ring {
  readonly header: Int32Array;
  readonly slots: Float64Array;
  readonly capacity: number;
  readonly mask: number;
  readonly fields: number;

  constructor(views: RingViews) {
    assert.equal(views.slots.length, views.capacity * views.fields);
    this.header = views.header;
    this.slots = views.slots;
    this.capacity = views.capacity;
    this.mask = views.capacity - 1;
    this.fields = views.fields;
  }

  /** Offset into `slots` of the slot the producer fills next. */
  producerSlot(): number {
    return (Atomics.load(this.header, HEAD) & this.mask) * this.fields;
  }

  /** Offset of the slot `ahead` places after producerSlot(), for filling several before one publish. */
  producerSlotAhead(ahead: number): number {
    return ((Atomics.load(this.header, HEAD) + ahead) & this.mask) * this.fields;
  }

  /** Makes the next `count` filled slots visible to the consumer. */
  publish(count = 1): void {
    Atomics.store(this.header, HEAD, (Atomics.load(this.header, HEAD) + count) & 0x7fffffff);
  }

  /** Entries waiting for the consumer. */
  available(): number {
    return (Atomics.load(this.header, HEAD) - Atomics.load(this.header, TAIL)) & 0x7fffffff;
  }

  /** Slots the producer may still fill before the consumer frees one. */
  space(): number {
    return this.capacity - this.available();
  }

  /** Offset into `slots` of the oldest unread entry; call only when available() > 0. */
  consumerSlot(): number {
    return (Atomics.load(this.header, TAIL) & this.mask) * this.fields;
  }

  /** Frees the entry read at consumerSlot(). */
  release(): void {
    Atomics.store(this.header, TAIL, (Atomics.load(this.header, TAIL) + 1) & 0x7fffffff);
  }

  /** Wakes the consumer if it sleeps; cheap when it does not. */
  wake(): void {
    if (Atomics.load(this.header, SLEEPING) === 1) Atomics.notify(this.header, HEAD);
  }

  /**
   * Consumer side: blocks up to `timeoutMs` for an entry. Sets `sleeping`
   * before looking at head, so a producer that publishes after the look sees
   * the flag and wakes it (both sides use sequentially consistent atomics).
   */
  waitForEntries(timeoutMs: number): void {
    Atomics.store(this.header, SLEEPING, 1);
    const head = Atomics.load(this.header, HEAD);
    if (head === Atomics.load(this.header, TAIL)) Atomics.wait(this.header, HEAD, head, timeoutMs);
    Atomics.store(this.header, SLEEPING, 0);
  }
}

/** A request as the worker reads it; one is reused per worker. */
export interface RingRequest {
  op: number;
  token: number;
  item: number;
  user: number;
  argument: number;
  nowMs: number;
}

export function emptyRequest(): RingRequest {
  return { op: 0, token: 0, item: 0, user: 0, argument: 0, nowMs: 0 };
}

/** An answer as the HTTP thread reads it; `view` is what the shard's decision told. */
export interface RingAnswer {
  token: number;
  outcome: Outcome;
  view: OrderView;
}

/**
 * HTTP thread: fills the next request slot and publishes it. The caller
 * wakes the consumer; the token pool keeps a free slot for every call.
 */
export function writeRequest(ring: Ring, op: number, token: number, item: number, user: number, argument: number,
  nowMs: number): void {
  assert.ok(ring.fields === REQUEST_FIELDS);
  assert.ok(ring.space() > 0, 'request ring full: the token pool must bound the requests in flight');
  const at = ring.producerSlot();
  const slots = ring.slots;
  slots[at + REQUEST.op] = op;
  slots[at + REQUEST.token] = token;
  slots[at + REQUEST.item] = item;
  slots[at + REQUEST.user] = user;
  slots[at + REQUEST.argument] = argument;
  slots[at + REQUEST.nowMs] = nowMs;
  ring.publish();
}

/** Worker: copies the oldest request into `out` and frees its slot; call only when available() > 0. */
export function readRequest(ring: Ring, out: RingRequest): void {
  const at = ring.consumerSlot();
  const slots = ring.slots;
  out.op = slots[at + REQUEST.op]!;
  out.token = slots[at + REQUEST.token]!;
  out.item = slots[at + REQUEST.item]!;
  out.user = slots[at + REQUEST.user]!;
  out.argument = slots[at + REQUEST.argument]!;
  out.nowMs = slots[at + REQUEST.nowMs]!;
  ring.release();
}

/**
 * Worker: fills the answer slot `ahead` places past the producer's, so a
 * batch of answers goes out with one publish(count) after the log write.
 */
export function writeAnswer(ring: Ring, ahead: number, token: number, outcome: Outcome, view: OrderView): void {
  assert.ok(ring.fields === ANSWER_FIELDS);
  assert.ok(ahead < ring.space(), 'answer ring full: each answer has a token, and tokens are as many as slots');
  const at = ring.producerSlotAhead(ahead);
  const slots = ring.slots;
  slots[at + ANSWER.token] = token;
  slots[at + ANSWER.outcome] = outcome;
  slots[at + ANSWER.orderId] = view.orderId;
  slots[at + ANSWER.user] = view.userId;
  slots[at + ANSWER.state] = view.state;
  slots[at + ANSWER.createdAt] = view.createdAt;
  slots[at + ANSWER.payBy] = view.payBy;
}

/** HTTP thread: copies the oldest answer into `out` and frees its slot; call only when available() > 0. */
export function readAnswer(ring: Ring, out: RingAnswer): void {
  const at = ring.consumerSlot();
  const slots = ring.slots;
  out.token = slots[at + ANSWER.token]!;
  out.outcome = slots[at + ANSWER.outcome]! as Outcome;
  out.view.orderId = slots[at + ANSWER.orderId]!;
  out.view.userId = slots[at + ANSWER.user]!;
  out.view.state = slots[at + ANSWER.state]!;
  out.view.createdAt = slots[at + ANSWER.createdAt]!;
  out.view.payBy = slots[at + ANSWER.payBy]!;
  ring.release();
}

/** An item created while the engine runs, as the addItem control request carries it. */
export interface RingAddedItem {
  itemIndex: number;
  reserve: boolean;
  row: number;
  stock: number;
}

/** Worker: the op of the oldest request, to choose its reader; call only when available() > 0. */
export function nextOp(ring: Ring): number {
  return ring.slots[ring.consumerSlot() + REQUEST.op]!;
}

/**
 * HTTP thread: an addItem control request (op `op`); row, mode and stock
 * travel here, the rest in the shared settings. Published like writeRequest.
 */
export function writeAddItem(ring: Ring, op: number, itemIndex: number, reserve: boolean, row: number,
  stock: number): void {
  assert.ok(ring.fields === REQUEST_FIELDS);
  assert.ok(ring.space() > 0, 'request ring full: control requests use the half of it that tokens leave free');
  const at = ring.producerSlot();
  const slots = ring.slots;
  slots[at + ADD_ITEM.op] = op;
  slots[at + ADD_ITEM.token] = -1;
  slots[at + ADD_ITEM.itemIndex] = itemIndex;
  slots[at + ADD_ITEM.reserve] = reserve ? 1 : 0;
  slots[at + ADD_ITEM.row] = row;
  slots[at + ADD_ITEM.stock] = stock;
  ring.publish();
}

/** Worker: copies the oldest request, an addItem one (see nextOp), into `out` and frees its slot. */
export function readAddItem(ring: Ring, out: RingAddedItem): void {
  const at = ring.consumerSlot();
  const slots = ring.slots;
  out.itemIndex = slots[at + ADD_ITEM.itemIndex]!;
  out.reserve = slots[at + ADD_ITEM.reserve] === 1;
  out.row = slots[at + ADD_ITEM.row]!;
  out.stock = slots[at + ADD_ITEM.stock]!;
  ring.release();
}
