// The users whose buys look like a bot's, for the admin's suspects list
// (GET /admin/signals): per user, buys sent before the item's start (how
// many, and how early at most) and challenge answers sent sooner than a
// human can read the question (--challenge-think-ms), with the last time
// either was seen. Only refusals write here (not_started and
// challenge_failed), never a buy that goes on to a shard, so the buy path
// pays nothing for it.
//
// Cross-thread design: shared memory with Atomics (see atomic-lock.ts for
// why not partitioning): a user's buys reach any HTTP thread, and the main
// thread answers the admin. One insert-only table (keyed-entries.ts) under
// one lock word; an update is a probe and four writes. A user the full
// table cannot take is counted in OVERFLOW (flash_signal_table_full_total)
// and not listed; the per-item counts (bot-signals.ts) still count the buy.
//
//   entry n (Float64Array, SUSPECT_FIELDS = 6 numbers, 48 B):
//     [0] user id   [1] 0 (the second key number, unused)
//     [2] buys refused not_started   [3] the earliest of them, ms before the start
//     [4] challenge answers too fast   [5] last time either was seen (epoch ms)

import assert from 'node:assert/strict';
import { createLockWords, lock, unlock } from './atomic-lock';
import { createKeyedEntriesViews, KeyedEntries, TABLE_FULL, type KeyedEntriesViews } from './keyed-entries';

const LOCK = 0;
const COUNT = 1;
/** Signals of users the full table could not take. */
const OVERFLOW = 2;
const CONTROL_WORDS = 3;

export const SUSPECT = { user: 0, earlyBuys: 2, earliestMs: 3, tooFastAnswers: 4, lastAt: 5 } as const;
export const SUSPECT_FIELDS = 6;

export interface SuspectUserViews {
  table: KeyedEntriesViews;
  /** Int32Array(3): [LOCK, COUNT, OVERFLOW], written under LOCK. */
  control: Int32Array;
}

export function createSuspectUserViews(capacity: number): SuspectUserViews {
  return { table: createKeyedEntriesViews(capacity, SUSPECT_FIELDS), control: createLockWords(CONTROL_WORDS) };
}

/** One user's signals, as the admin reads them. */
export interface SuspectUser {
  user: number;
  earlyBuys: number;
  /** Ms before the start of the earliest early buy; 0 when none. */
  earliestMs: number;
  tooFastAnswers: number;
  lastAt: number;
}

export class SuspectUsers {
  private readonly table: KeyedEntries;
  private readonly control: Int32Array;

  constructor(readonly capacity: number, views: SuspectUserViews = createSuspectUserViews(capacity)) {
    this.control = views.control;
    this.table = new KeyedEntries(capacity, SUSPECT_FIELDS, views.table, views.control, COUNT);
  }

  /** Users listed. */
  get size(): number {
    return Atomics.load(this.control, COUNT);
  }

  /** Signals dropped because the table was full. */
  get overflow(): number {
    return Atomics.load(this.control, OVERFLOW);
  }

  /** A buy of `userId` refused not_started, `earlyMs` (> 0) before the item's start. */
  noteEarlyBuy(userId: number, earlyMs: number, nowMs: number): void {
    this.note(userId, SUSPECT.earlyBuys, earlyMs, nowMs);
  }

  /** A challenge answer of `userId` sent sooner than the think time after its issue. */
  noteTooFast(userId: number, nowMs: number): void {
    this.note(userId, SUSPECT.tooFastAnswers, 0, nowMs);
  }

  /** Every listed user, copied under the lock (at most capacity * 48 B), in the order they were first seen. */
  read(): SuspectUser[] {
    lock(this.control, LOCK);
    const entries = this.table.entries.slice(0, this.table.count * SUSPECT_FIELDS);
    unlock(this.control, LOCK);
    const users: SuspectUser[] = [];
    for (let at = 0; at < entries.length; at += SUSPECT_FIELDS) {
      users.push({
        user: entries[at + SUSPECT.user]!, earlyBuys: entries[at + SUSPECT.earlyBuys]!,
        earliestMs: entries[at + SUSPECT.earliestMs]!, tooFastAnswers: entries[at + SUSPECT.tooFastAnswers]!,
        lastAt: entries[at + SUSPECT.lastAt]!,
      });
    }
    return users;
  }

  /** Adds one to the user's `field`, keeps the largest `earlyMs`, stamps `nowMs`. */
  private note(userId: number, field: number, earlyMs: number, nowMs: number): void {
    assert.ok(userId > 0);
    const { table, control } = this;
    lock(control, LOCK);
    const entry = table.findOrAdd(userId, 0);
    if (entry === TABLE_FULL) {
      control[OVERFLOW] = control[OVERFLOW]! + 1;
    } else {
      const at = entry * SUSPECT_FIELDS;
      const entries = table.entries;
      entries[at + field] = entries[at + field]! + 1;
      if (earlyMs > entries[at + SUSPECT.earliestMs]!) entries[at + SUSPECT.earliestMs] = earlyMs;
      if (nowMs > entries[at + SUSPECT.lastAt]!) entries[at + SUSPECT.lastAt] = nowMs;
    }
    unlock(control, LOCK);
  }
}
