// One item's fair start window, on the shard that owns the item. A buy that
// arrives in the first fairWindowMs after the item's start is not decided:
// its user is entered (one entry per user, kept in the write-behind log as
// an `entered` record), and is answered "entered" with the time of the
// draw. When the window closes the shard draws the entrants' places from
// the window's seed (fair-draw.ts) and decides their buys in that order, so
// arriving first inside the window buys nothing. The draw and its proof
// (the seed, the hashed entrants, each place's result) are then published
// as a file that any client can check with scripts/verify-draw.
//
// Crash safety: entries are in the log before their answers. The draw's
// won records are flushed before the proof file is written, and the shard
// decides nothing else in between, so after a kill -9 either the proof is
// there (and is read back), or the draw is made again from the same seed
// and entrants; a user who already holds an order of the item then (its
// record reached the log before the crash) keeps that order as its win
// instead of buying again.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeTextDurably } from '../persistence/durable-file';
import { sequenceOf } from '../persistence/order-id';
import { FAIR_ENTRANTS_MAX } from './constants';

/** What the draw decided for an entrant; ENTRY_RESULT_NAMES[result] is its published name. */
export const ENTRY_RESULT = { won: 1, sold_out: 2, limit_reached: 3, overloaded: 4 } as const;
export const ENTRY_RESULT_NAMES = ['', 'won', 'sold_out', 'limit_reached', 'overloaded'] as const;

/** The published draw, as written to its file and served by GET /api/items/:id/draw. */
export interface DrawProof {
  drawAt: number;
  seedHash: string;
  seed: string;
  /** Units left when the draw began. */
  left: number;
  /** The entrants' hashes, sorted: the input of the shuffle. */
  entrants: string[];
  /** Place 1 first: each entrant's hash, its result and the order it won (null unless won). */
  places: { entrant: string; result: string; order: string | null }[];
}

export class FairWindow {
  /** Per entrant, in entry order (entrant number - 1): its user and its idempotency key (0: none). */
  readonly users: number[] = [];
  readonly keys: number[] = [];
  private readonly byUser = new Map<number, number>();
  drawn = false;
  /** After the draw, per entrant: its place (1 first), its ENTRY_RESULT and the sequence of the order it won. */
  places = new Int32Array(0);
  results = new Uint8Array(0);
  sequences = new Float64Array(0);

  constructor(readonly drawAt: number) {
    assert.ok(drawAt > 0);
  }

  get count(): number {
    return this.users.length;
  }

  /** The entrant index (entry order, from 0) of `userId`, or -1. */
  indexOf(userId: number): number {
    return this.byUser.get(userId) ?? -1;
  }

  /** Enters `userId`; returns its entrant number (from 1). The caller checks the bound and the duplicate. */
  add(userId: number, key: number): number {
    assert.ok(!this.drawn && this.count < FAIR_ENTRANTS_MAX && this.indexOf(userId) < 0);
    this.byUser.set(userId, this.users.length);
    this.users.push(userId);
    this.keys.push(key);
    return this.users.length;
  }

  /** Makes room for the draw's results; every entrant gets one before the window counts as drawn. */
  beginDraw(): void {
    assert.ok(!this.drawn);
    this.places = new Int32Array(this.count);
    this.results = new Uint8Array(this.count);
    this.sequences = new Float64Array(this.count);
  }

  /** Takes the results of a draw made before a restart from its proof; false when the proof does not fit. */
  restore(proof: DrawProof, hashOf: (userId: number) => string): boolean {
    if (proof.drawAt !== this.drawAt || proof.places.length !== this.count) return false;
    const byHash = new Map(this.users.map((user, index) => [hashOf(user), index]));
    this.beginDraw();
    for (let place = 0; place < proof.places.length; place++) {
      const { entrant, result, order } = proof.places[place]!;
      const index = byHash.get(entrant);
      const code = ENTRY_RESULT_NAMES.indexOf(result as (typeof ENTRY_RESULT_NAMES)[number]);
      if (index === undefined || code < 1) return false;
      this.places[index] = place + 1;
      this.results[index] = code;
      this.sequences[index] = order === null ? 0 : sequenceOf(Number(order));
    }
    this.drawn = true;
    return true;
  }
}

/** The published draw in `file`, or null when the window has not been drawn (no file). */
export function readDrawProof(file: string): DrawProof | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return JSON.parse(text) as DrawProof;
}

/** Writes a draw's proof durably: whole or not at all, and on disk before anything that follows. */
export function writeDrawProof(file: string, proof: DrawProof): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeTextDurably(file, JSON.stringify(proof));
}
