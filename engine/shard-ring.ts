// Single-producer single-consumer rings on SharedArrayBuffers: how the HTTP
// threads feed a shard worker and how the worker answers, with no
// postMessage or structured clone per request. Cross-thread design: shared
// memory with Atomics, partitioned so that no word has two writers. Each
// producer (HTTP thread) owns one request ring and one answer ring to every
// shard, so producers never contend with each other on the buy path; the
// only word they share is the shard's doorbell, and they write it only
// while the worker sleeps.
//
//   shard s, P producers (createShardRings):
//
//     producer 0 (main thread) --control ring-------------+
//     producer 0 --requests[0]--+                         |
//     producer 1 --requests[1]--+--> shard worker s <-----+
//     ...                       |        |
//     producer P-1 -------------+        +--answers[p]--> producer p
//
//     doorbell: Int32Array(2) [0] rings   bumped by a producer that saw
//                                         the worker asleep; the worker
//                                         Atomics.waits on it
//                                 [1] sleeping  1 while the worker is (about
//                                         to be) blocked on [0]
//
//   ring header: Int32Array(4) on its own SharedArrayBuffer
//     [0] head      next slot the producer writes (counts up, wraps at 2^31)
//     [1] tail      next slot the consumer reads
//     [2], [3]      unused
//   ring slots: Float64Array(capacity * fields) on a second SharedArrayBuffer
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
//   op        shard.ts OP in a request ring; a CONTROL_OP (shard-turns.ts)
//             in the control ring
//   token     the producer's pending-request index, echoed in the answer;
//             -1 for control requests, which get no answer in a ring
//   item      the item's index local to the shard
//   user      the user asking
//   argument  what the op needs beyond item and user: the order's sequence
//             within its item for getOrder, pay and cancel; the units to add
//             for restock; for buy, which makes a new order, its
//             idempotency key (idempotency-key.ts; 0: none), which the
//             shard writes into the won record
//   nowMs     the producer's clock when the request arrived
//
// An addItem control request carries the new item instead (ADD_ITEM): its
// global index, 1 when its mode is reserve, its row and its stock.
//
// An answer slot (ANSWER, 8 fields, 64 B):
//
//   +0      +1        +2        +3      +4      +5          +6      +7
//   +-------+---------+---------+-------+-------+-----------+-------+-------+
//   | token | outcome | orderId | user  | state | createdAt | payBy | place |
//   +-------+---------+---------+-------+-------+-----------+-------+-------+
//
//   place     the waitlist place of a waitlist op's answer (shard.ts OrderView)
//
// A producer never overruns the worker because it bounds its in-flight
// requests to a shard by its token pool (as many tokens as its request ring
// and its answer ring have slots), and each request has exactly one answer.
// The control ring is as large: control requests are a snapshot or a
// shutdown at a time and the items admins add, which the worker applies at
// the start of every turn.

import assert from 'node:assert/strict';
import type { Outcome } from './error-catalog';
import type { OrderView } from './shard';

export const HEAD = 0;
export const TAIL = 1;
const HEADER_FIELDS = 4;

/** Words of a shard's doorbell, drawn above. */
export const DOORBELL = { rings: 0, sleeping: 1 } as const;
const DOORBELL_FIELDS = 2;

/** Field offsets inside a request slot; `argument` means what the layout above says for each op. */
export const REQUEST = { op: 0, token: 1, item: 2, user: 3, argument: 4, nowMs: 5 } as const;
export const REQUEST_FIELDS = 6;

/** Field offsets of an addItem control request, which carries the item instead of a user's request. */
export const ADD_ITEM = { op: REQUEST.op, token: REQUEST.token, itemIndex: 2, reserve: 3, row: 4, stock: 5 } as const;

/** Field offsets inside an answer slot. */
export const ANSWER = {
  token: 0, outcome: 1, orderId: 2, user: 3, state: 4, createdAt: 5, payBy: 6, place: 7,
} as const;
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
}

/**
 * One shard's doorbell: the single word its worker sleeps on, whichever
 * producer wakes it. Why no wake-up is lost (all accesses are sequentially
 * consistent Atomics, so they fall in one total order):
 *
 *   producer: (p1) publish head; (p2) load sleeping; if 1: (p3) add 1 to
 *             rings, (p4) notify
 *   worker:   (w1) store sleeping = 1; (w2) b = load rings; (w3) load every
 *             ring's head; if all empty: (w4) wait while rings == b;
 *             (w5) store sleeping = 0, then read the rings again
 *
 * If w3 missed the entry, then w1 < w3 < p1 < p2. Either p2 reads 1 and
 * the producer bumps after w2 read b, so the wait at w4 either sees rings
 * != b and returns at once (p3 < w4) or is woken by p4 (w4 < p4): the
 * futex compares and enqueues atomically with respect to notify. Or p2
 * reads 0, which only w5 wrote after w1: the worker had left the wait
 * before p2 and cannot sleep again before its next w1 and w3, which come
 * after p2 and so after p1, and find the entry. A producer that sees the
 * worker awake pays one load and no write, so producers share no written
 * cache line while the worker is busy.
 */
export class Doorbell {
  constructor(readonly words: Int32Array) {
    assert.equal(words.length, DOORBELL_FIELDS);
  }

  /** Producer, after publish(): wakes the worker if it sleeps or is about to. */
  ring(): void {
    if (Atomics.load(this.words, DOORBELL.sleeping) === 1) {
      Atomics.add(this.words, DOORBELL.rings, 1);
      Atomics.notify(this.words, DOORBELL.rings, 1);
    }
  }

  /** Worker: blocks up to `timeoutMs` unless one of `rings` has an entry or a producer rings meanwhile. */
  sleep(rings: readonly Ring[], timeoutMs: number): void {
    Atomics.store(this.words, DOORBELL.sleeping, 1);
    const rung = Atomics.load(this.words, DOORBELL.rings);
    if (rings.every((ring) => ring.available() === 0)) {
      Atomics.wait(this.words, DOORBELL.rings, rung, timeoutMs);
    }
    Atomics.store(this.words, DOORBELL.sleeping, 0);
  }
}

/** One producer's two rings to one shard. */
export interface ProducerRings {
  /** Producer to worker: ringSlots slots of 6 float64 (48 B each), one per token. */
  requests: RingViews;
  /** Worker to producer: ringSlots slots of 8 float64 (64 B each), one per token. */
  answers: RingViews;
}

/** Everything one shard worker reads and answers through, drawn at the top of this file. */
export interface ShardRings {
  /** Producer 0 (the main thread) to worker: snapshot, shutdown, addItem; ringSlots slots of 48 B. */
  control: RingViews;
  /** Indexed by producer. */
  producers: ProducerRings[];
  /** Int32Array(2), DOORBELL words. */
  doorbell: Int32Array;
}

/** A shard's rings for `producerCount` producers: (producerCount * 112 + 48) * ringSlots bytes. */
export function createShardRings(producerCount: number, ringSlots: number): ShardRings {
  assert.ok(producerCount >= 1);
  return {
    control: createRing(ringSlots, REQUEST_FIELDS),
    producers: Array.from({ length: producerCount }, () => ({
      requests: createRing(ringSlots, REQUEST_FIELDS),
      answers: createRing(ringSlots, ANSWER_FIELDS),
    })),
    doorbell: new Int32Array(new SharedArrayBuffer(DOORBELL_FIELDS * Int32Array.BYTES_PER_ELEMENT)),
  };
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

/** An answer as its producer reads it; `view` is what the shard's decision told. */
export interface RingAnswer {
  token: number;
  outcome: Outcome;
  view: OrderView;
}

/**
 * Producer: fills the next request slot and publishes it. The caller rings
 * the shard's doorbell; the token pool keeps a free slot for every call.
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
  slots[at + ANSWER.place] = view.place;
}

/** Producer: copies the oldest answer into `out` and frees its slot; call only when available() > 0. */
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
  out.view.place = slots[at + ANSWER.place]!;
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
 * Producer 0: an addItem control request (op `op`) in the control ring; row,
 * mode and stock travel here, the rest in the shared settings. Published
 * like writeRequest.
 */
export function writeAddItem(ring: Ring, op: number, itemIndex: number, reserve: boolean, row: number,
  stock: number): void {
  assert.ok(ring.fields === REQUEST_FIELDS);
  assert.ok(ring.space() > 0, 'control ring full: control requests are far fewer than its slots');
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
