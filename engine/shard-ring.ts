// Single-producer single-consumer rings on SharedArrayBuffers: how the HTTP
// thread feeds a shard worker and how the worker answers, with no
// postMessage or structured clone per request.
//
//   header: Int32Array(4) on its own SharedArrayBuffer
//     [0] head      next slot the producer writes (counts up, wraps at 2^31)
//     [1] tail      next slot the consumer reads
//     [2] sleeping  1 while the consumer is (about to be) blocked in Atomics.wait
//     [3] unused
//   slots: Float64Array(slots * fields) on a second SharedArrayBuffer
//
//   producer: write slot[head & mask], then Atomics.store(head, head + 1)
//   consumer: read slot[tail & mask] while tail != head, then store tail
//
// The producer never overruns the consumer because the HTTP thread bounds a
// shard's in-flight requests to its token pool (the answer ring's size, half
// the request ring's, which leaves room for control requests), and each
// request has exactly one answer.

import assert from 'node:assert/strict';

export const HEAD = 0;
export const TAIL = 1;
export const SLEEPING = 2;

/** Request slot fields: op, token, local item index, user id, order sequence, time (ms). */
export const REQUEST_FIELDS = 6;
/** Answer slot fields: token, outcome, order id, user id, state, createdAt, payBy, unused. */
export const ANSWER_FIELDS = 8;

export interface RingBuffers {
  header: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  capacity: number;
  fields: number;
}

export function createRing(capacity: number, fields: number): RingBuffers {
  assert.ok(capacity > 0 && (capacity & (capacity - 1)) === 0, 'ring capacity must be a power of two');
  return {
    header: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
    slots: new SharedArrayBuffer(capacity * fields * Float64Array.BYTES_PER_ELEMENT),
    capacity,
    fields,
  };
}

export class Ring {
  readonly header: Int32Array;
  readonly slots: Float64Array;
  readonly mask: number;
  readonly fields: number;

  constructor(buffers: RingBuffers) {
    this.header = new Int32Array(buffers.header);
    this.slots = new Float64Array(buffers.slots);
    this.mask = buffers.capacity - 1;
    this.fields = buffers.fields;
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
