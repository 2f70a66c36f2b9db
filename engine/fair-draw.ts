// The draw of a fair start window, as pure functions that anyone can run
// again: the shard that owns the item draws with them, and
// scripts/verify-draw checks a published draw with the same code. The
// rules, which docs/API.md states for clients in other languages:
//
//   seed        32 bytes, HMAC-SHA256(fairKey, "fair-seed:" + row + ":" + drawAt);
//               published as hex after the window closes
//   seedHash    hex SHA-256 of the seed bytes; published from the moment the
//               item is listed, so the seed is fixed before anyone enters
//   entrant     hex SHA-256 of the text seedHex + ":" + userId (the user id in
//               decimal): a user finds itself, nobody else is named
//   entrants    the entrants' hashes sorted ascending (as ASCII strings): the
//               list does not depend on who arrived first
//   shuffle     Fisher-Yates over that list, i from n - 1 down to 1, swapping
//               i with j, a uniform draw in 0..i: 32-bit big-endian words
//               are read in turn from the blocks SHA-256(seed || uint32be(b)),
//               b = 0, 1, 2, ...; a word w is used when w < 2^32 - 2^32 mod
//               (i + 1), as j = w mod (i + 1), and skipped otherwise
//   places      the shuffled list: place 1 buys first, then 2, and so on
//
// The seed's key is derived from the engine's ticket secret, which never
// leaves the engine: before the window closes nobody outside it can know
// the order, and after it the seed proves the order was not chosen.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

const TWO_POW_32 = 2 ** 32;

/** The key the seeds are drawn from, derived once from the ticket secret. */
export function fairKeyOf(ticketSecret: string): string {
  return crypto.createHmac('sha256', ticketSecret).update('fair-seed-key').digest('hex');
}

/** The seed of the window of the item with `row` that closes at `drawAt`. */
export function fairSeed(fairKey: string, row: number, drawAt: number): Buffer {
  assert.ok(Number.isSafeInteger(row) && row > 0 && Number.isSafeInteger(drawAt) && drawAt > 0);
  return crypto.createHmac('sha256', fairKey).update(`fair-seed:${row}:${drawAt}`).digest();
}

export function seedHashOf(seed: Buffer): string {
  return crypto.createHash('sha256').update(seed).digest('hex');
}

/** The published name of an entrant: its user id hashed with the window's seed. */
export function entrantHash(seedHex: string, userId: number): string {
  return crypto.createHash('sha256').update(`${seedHex}:${userId}`).digest('hex');
}

/** Uniform 32-bit words from the seed, block after block. */
class SeedStream {
  private block = Buffer.alloc(0);
  private blockIndex = 0;
  private at = 0;

  constructor(private readonly seed: Buffer) {}

  next(): number {
    if (this.at === this.block.length) {
      const counter = Buffer.alloc(4);
      counter.writeUInt32BE(this.blockIndex++);
      this.block = crypto.createHash('sha256').update(this.seed).update(counter).digest();
      this.at = 0;
    }
    const word = this.block.readUInt32BE(this.at);
    this.at += 4;
    return word;
  }

  /** A uniform integer in 0..bound - 1, without the bias of a plain modulo. */
  below(bound: number): number {
    assert.ok(Number.isSafeInteger(bound) && bound >= 1 && bound <= TWO_POW_32);
    const limit = TWO_POW_32 - (TWO_POW_32 % bound);
    for (;;) {
      const word = this.next();
      if (word < limit) return word % bound;
    }
  }
}

/** Sorts `hashes` as the published list and returns it shuffled into places (a new array). */
export function drawPlaces(seed: Buffer, hashes: readonly string[]): string[] {
  const places = [...hashes].sort();
  const stream = new SeedStream(seed);
  for (let i = places.length - 1; i >= 1; i--) {
    const j = stream.below(i + 1);
    const swap = places[i]!;
    places[i] = places[j]!;
    places[j] = swap;
  }
  return places;
}
