// Token buckets per key (a user id, or a hash of a client address) in one
// fixed-size table of typed arrays: memory stays the same whatever the
// number of users or attackers (RATE_SLOTS * 24 B = 6 MiB per table, for 10
// million distinct users as for 10). The table is direct-mapped: a key that
// lands on a slot held by another key takes it over with a full bucket, so a
// collision can only be lenient (a fresh bucket), never refuse an innocent
// key for someone else's traffic.
//
// Cross-thread design: shared memory with Atomics (see atomic-lock.ts for
// why not partitioning). A slot's key, tokens and stamp are read, refilled
// and written back under a lock word; slots share RATE_LOCK_STRIPES words
// (slot modulo the stripe count), 16 KiB instead of a word per slot (1 MiB),
// and two threads wait on each other only when their keys land on the same
// stripe during the same few instructions. Across threads a key gets
// exactly burst + rate x elapsed, as on one thread. The stamp only moves
// forward: a thread that read the clock before another but took the lock
// after it finds the tokens the bucket holds, instead of rewinding the
// bucket to its older time (which would refuse it a token that is there).

import assert from 'node:assert/strict';
import { createLockWords, lock, unlock } from './atomic-lock';
import { hashKey, TWO_POW_32 } from './key-hash';

/** Slots per table: a power of two. 2^18 = 262,144 slots, 6 MiB. */
export const RATE_SLOTS = 1 << 18;
/** Lock words per table: a power of two. 2^12 = 4,096 words, 16 KiB. */
export const RATE_LOCK_STRIPES = 1 << 12;

/** Float64 fields per slot in `buckets`: its key (-1 when empty), tokens left, and the stamp they were counted at. */
const KEY = 0;
const TOKENS = 1;
const STAMP_MS = 2;
const BUCKET_FIELDS = 3;

/** A table's shared memory: a slot's three fields side by side, so a take touches one or two cache lines, not three. */
export interface BucketViews {
  /** Float64Array(slots * 3), 24 B a slot: 6 MiB for RATE_SLOTS. */
  buckets: Float64Array;
  /** Int32Array(RATE_LOCK_STRIPES), 16 KiB: slot & (RATE_LOCK_STRIPES - 1) locks the slot (atomic-lock.ts). */
  locks: Int32Array;
}

export function createBucketViews(slots = RATE_SLOTS): BucketViews {
  const buckets = new Float64Array(new SharedArrayBuffer(slots * BUCKET_FIELDS * Float64Array.BYTES_PER_ELEMENT));
  for (let slot = 0; slot < slots; slot++) buckets[slot * BUCKET_FIELDS + KEY] = -1;
  return { buckets, locks: createLockWords(RATE_LOCK_STRIPES) };
}

export class TokenBucketTable {
  private readonly buckets: Float64Array;
  private readonly locks: Int32Array;
  private readonly mask: number;
  private readonly perMs: number;

  /** `ratePerSecond` tokens refill each second, up to `burst`; threads that share `views` share the buckets. */
  constructor(readonly ratePerSecond: number, readonly burst: number, slots = RATE_SLOTS,
    views: BucketViews = createBucketViews(slots)) {
    assert.ok(ratePerSecond > 0 && burst >= 1 && (slots & (slots - 1)) === 0);
    assert.equal(views.buckets.length, slots * BUCKET_FIELDS);
    assert.equal(views.locks.length, RATE_LOCK_STRIPES);
    this.buckets = views.buckets;
    this.locks = views.locks;
    this.mask = slots - 1;
    this.perMs = ratePerSecond / 1000;
  }

  /** Takes one token for `key` at `nowMs`: true when allowed. */
  take(key: number, nowMs: number): boolean {
    const slot = hashKey(key) & this.mask;
    const stripe = slot & (RATE_LOCK_STRIPES - 1);
    const base = slot * BUCKET_FIELDS;
    const buckets = this.buckets;
    lock(this.locks, stripe);
    let tokens: number;
    const stampMs = buckets[base + STAMP_MS]!;
    if (buckets[base + KEY] !== key) {
      buckets[base + KEY] = key;
      buckets[base + STAMP_MS] = nowMs;
      tokens = this.burst;
    } else if (nowMs > stampMs) {
      buckets[base + STAMP_MS] = nowMs;
      tokens = Math.min(this.burst, buckets[base + TOKENS]! + (nowMs - stampMs) * this.perMs);
    } else {
      tokens = buckets[base + TOKENS]!;
    }
    const allowed = tokens >= 1;
    buckets[base + TOKENS] = allowed ? tokens - 1 : tokens;
    unlock(this.locks, stripe);
    return allowed;
  }
}

/** A number key for a client address (its bytes, or its text from a proxy header): FNV-1a, 53 bits. */
export function addressKey(address: ArrayBuffer | Uint8Array): number {
  const bytes = address instanceof Uint8Array ? address : new Uint8Array(address);
  let low = 0x811c9dc5;
  let high = 0x01000193;
  for (let i = 0; i < bytes.length; i++) {
    low = Math.imul(low ^ bytes[i]!, 0x01000193);
    high = Math.imul(high ^ bytes[i]!, 0x5bd1e995);
  }
  // Never 0: callers use 0 for "no address limit applies".
  return (high & 0x1fffff) * TWO_POW_32 + (low >>> 0) || 1;
}
