// Token buckets per key (a user id, or a hash of a client address) in one
// fixed-size table of typed arrays: memory stays the same whatever the
// number of users or attackers (RATE_SLOTS * 24 B = 6 MiB per table, for 10
// million distinct users as for 10). The table is direct-mapped: a key that
// lands on a slot held by another key takes it over with a full bucket, so a
// collision can only be lenient (a fresh bucket), never refuse an innocent
// key for someone else's traffic.

import assert from 'node:assert/strict';
import { hashKey } from './key-hash';

/** Slots per table: a power of two. 2^18 = 262,144 slots, 6 MiB. */
export const RATE_SLOTS = 1 << 18;

const TWO_POW_32 = 4294967296;

export class TokenBucketTable {
  private readonly keys: Float64Array;
  private readonly tokens: Float64Array;
  private readonly stampMs: Float64Array;
  private readonly mask: number;
  private readonly perMs: number;

  /** `ratePerSecond` tokens refill each second, up to `burst`. */
  constructor(readonly ratePerSecond: number, readonly burst: number, slots = RATE_SLOTS) {
    assert.ok(ratePerSecond > 0 && burst >= 1 && (slots & (slots - 1)) === 0);
    this.keys = new Float64Array(slots).fill(-1);
    this.tokens = new Float64Array(slots);
    this.stampMs = new Float64Array(slots);
    this.mask = slots - 1;
    this.perMs = ratePerSecond / 1000;
  }

  /** Takes one token for `key` at `nowMs`: true when allowed. */
  take(key: number, nowMs: number): boolean {
    const slot = hashKey(key) & this.mask;
    let tokens: number;
    if (this.keys[slot] !== key) {
      this.keys[slot] = key;
      tokens = this.burst;
    } else {
      tokens = Math.min(this.burst, this.tokens[slot]! + (nowMs - this.stampMs[slot]!) * this.perMs);
    }
    this.stampMs[slot] = nowMs;
    if (tokens < 1) {
      this.tokens[slot] = tokens;
      return false;
    }
    this.tokens[slot] = tokens - 1;
    return true;
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
