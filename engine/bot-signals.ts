// What an HTTP thread notes of bot-like behaviour (docs/decisions.md, "Bot
// signals"), on refusals and on the routes where it costs nothing: a buy
// refused not_started (by how early), a challenge answer sent sooner than a
// human can read it, a ticket or challenge asked for before the start, and
// which users each client address block is seen with. A buy that goes on to
// a shard notes nothing.
//
// Per item, each thread counts in an array of its own in shared memory
// (thread-counters.ts), with plain writes (one writer); the main thread sums
// them (signal-report.ts). Per user and per address block, the threads share
// exact tables (suspect-users.ts, address-users.ts), so the admin's list is
// the same whichever thread saw the buys. An early buy's signals (its item,
// its user, its address block) cost 0.7 to 1.0 µs on one thread, measured
// in a loop of 200,000 over 50,000 users and 1,000 blocks (2-core EPYC under
// other load): a small part of an HTTP request's own cost (a won buy costs
// 15 to 20 µs of engine CPU, idempotency-keys.ts).

import type { AddressUsers } from './address-users';
import type { SuspectUsers } from './suspect-users';

/** Per-item counters of one HTTP thread: field slots of `itemIndex * SIGNAL_FIELDS`. */
export const SIGNAL = {
  /** Buys refused not_started, by how long before the start they came: at most 10 ms, 100 ms, 1 s, or more. */
  early10ms: 0, early100ms: 1, early1s: 2, earlyMore: 3,
  /** Challenge answers sent sooner than --challenge-think-ms after their challenge was issued. */
  tooFastAnswers: 4,
  /** Ticket and challenge requests refused not_started. */
  earlyTickets: 5, earlyChallenges: 6,
} as const;
export const SIGNAL_FIELDS = 7;

/** The early-buy buckets: label for /metrics and the stats, the bound in ms before the start, the slot. */
export const EARLY_BUCKETS: readonly { label: string; maxMs: number; field: number }[] = [
  { label: '10ms', maxMs: 10, field: SIGNAL.early10ms },
  { label: '100ms', maxMs: 100, field: SIGNAL.early100ms },
  { label: '1s', maxMs: 1000, field: SIGNAL.early1s },
  { label: 'more', maxMs: Infinity, field: SIGNAL.earlyMore },
];

/** The slot of a buy `earlyMs` (> 0) before the start: the first bucket whose bound it is within. */
export function earlyField(earlyMs: number): number {
  for (const bucket of EARLY_BUCKETS) if (earlyMs <= bucket.maxMs) return bucket.field;
  return SIGNAL.earlyMore;
}

export class BotSignals {
  /** `counts` is this thread's per-item array (ITEMS_MAX * SIGNAL_FIELDS); the tables are shared. */
  constructor(readonly counts: Float64Array, readonly users: SuspectUsers, readonly addresses: AddressUsers) {}

  /**
   * A buy refused not_started, `startsAt - nowMs` early. `address` is the
   * client's (null where the transport no longer has it).
   */
  earlyBuy(itemIndex: number, userId: number, startsAt: number, nowMs: number,
    address: ArrayBuffer | string | null): void {
    const earlyMs = startsAt - nowMs;
    this.add(itemIndex, earlyField(earlyMs));
    this.users.noteEarlyBuy(userId, earlyMs, nowMs);
    if (address !== null) this.addresses.note(address, userId, nowMs);
  }

  /** A challenge answer of `userId` sent before the think time had passed. */
  tooFastAnswer(itemIndex: number, userId: number, nowMs: number): void {
    this.add(itemIndex, SIGNAL.tooFastAnswers);
    this.users.noteTooFast(userId, nowMs);
  }

  /** A ticket asked for before the start (the route reads no token, so no user is known). */
  earlyTicket(itemIndex: number): void {
    this.add(itemIndex, SIGNAL.earlyTickets);
  }

  /** A challenge asked for before the start, by `userId` at `address`. */
  earlyChallenge(itemIndex: number, userId: number, address: ArrayBuffer | string, nowMs: number): void {
    this.add(itemIndex, SIGNAL.earlyChallenges);
    this.addresses.note(address, userId, nowMs);
  }

  /** `userId` seen at `address` where the address is at hand: a challenge issued, a WebSocket opened. */
  seen(address: ArrayBuffer | string, userId: number, nowMs: number): void {
    this.addresses.note(address, userId, nowMs);
  }

  private add(itemIndex: number, field: number): void {
    const slot = itemIndex * SIGNAL_FIELDS + field;
    this.counts[slot] = this.counts[slot]! + 1;
  }
}
