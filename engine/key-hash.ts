// Spreads a key of up to 53 bits (a user id, an address key) over 32 bits,
// murmur3's finalizer on both halves, and sizes an open-addressing table:
// shared by the typed-array tables.

/** 2^32: splits a 53-bit key into two 32-bit halves. */
export const TWO_POW_32 = 4294967296;

/** Slots for `capacity` entries: a power of two at least twice it, so probe runs stay short. */
export function openTableSlots(capacity: number): number {
  let slots = 16;
  while (slots < capacity * 2) slots *= 2;
  return slots;
}

export function hashKey(key: number): number {
  const low = key >>> 0;
  const high = Math.floor(key / TWO_POW_32);
  let h = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
