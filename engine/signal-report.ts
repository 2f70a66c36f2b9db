// The one reader of the bot signals (bot-signals.ts), on the main thread:
// per item, the HTTP threads' counters summed; the suspect users and address
// blocks from the shared tables, sorted with the most suspicious first. The
// admin stats, GET /admin/signals and /metrics all read them here, so a
// count means one thing everywhere.

import type { AddressUsers, SuspectAddress } from './address-users';
import { EARLY_BUCKETS, SIGNAL, SIGNAL_FIELDS } from './bot-signals';
import type { ItemCatalog } from './item-catalog';
import type { SuspectUser, SuspectUsers } from './suspect-users';

/** One item's signals, as the stats and GET /admin/signals show them. */
export interface ItemSignals {
  /** Buys refused not_started, by how early: "10ms", "100ms", "1s" (at most that before the start), "more". */
  earlyBuys: Record<string, number>;
  tooFastAnswers: number;
  earlyTickets: number;
  earlyChallenges: number;
}

export interface SignalList {
  items: ({ id: string } & ItemSignals)[];
  users: SuspectUser[];
  addresses: SuspectAddress[];
  /** Users and blocks listed before `limit` cut the lists. */
  usersListed: number;
  addressesListed: number;
}

/** Users: most signals first, then the earliest buy, then the most recent. */
function byUserSuspicion(a: SuspectUser, b: SuspectUser): number {
  return (b.earlyBuys + b.tooFastAnswers) - (a.earlyBuys + a.tooFastAnswers)
    || b.earliestMs - a.earliestMs || b.lastAt - a.lastAt || a.user - b.user;
}

/** Blocks: most distinct users first, then the most recent. */
function byAddressSuspicion(a: SuspectAddress, b: SuspectAddress): number {
  return b.users - a.users || b.lastAt - a.lastAt || (a.address < b.address ? -1 : 1);
}

function earlyTotal(signals: ItemSignals): number {
  return Object.values(signals.earlyBuys).reduce((total, count) => total + count, 0);
}

export class SignalReport {
  /** `threadCounts`: each HTTP thread's per-item signal array (thread-counters.ts), summed here. */
  constructor(private readonly catalog: ItemCatalog, private readonly threadCounts: readonly Float64Array[],
    readonly users: SuspectUsers, readonly addresses: AddressUsers) {}

  /** One per-item counter summed over the threads. */
  count(itemIndex: number, field: number): number {
    let total = 0;
    for (const counts of this.threadCounts) total += counts[itemIndex * SIGNAL_FIELDS + field]!;
    return total;
  }

  item(itemIndex: number): ItemSignals {
    const earlyBuys: Record<string, number> = {};
    for (const bucket of EARLY_BUCKETS) earlyBuys[bucket.label] = this.count(itemIndex, bucket.field);
    return {
      earlyBuys, tooFastAnswers: this.count(itemIndex, SIGNAL.tooFastAnswers),
      earlyTickets: this.count(itemIndex, SIGNAL.earlyTickets),
      earlyChallenges: this.count(itemIndex, SIGNAL.earlyChallenges),
    };
  }

  /** Signals dropped because a shared table was full, by table. */
  tableFull(): { users: number; addresses: number } {
    return { users: this.users.overflow, addresses: this.addresses.overflow };
  }

  /** The suspects lists, each cut to `limit`, most suspicious first; items with the most signals first. */
  list(limit: number): SignalList {
    const items = this.catalog.existingIndexes()
      .map((index) => ({ id: this.catalog.items[index]!.id, ...this.item(index) }))
      .sort((a, b) => (earlyTotal(b) + b.tooFastAnswers) - (earlyTotal(a) + a.tooFastAnswers)
        || (a.id < b.id ? -1 : 1));
    const users = this.users.read().sort(byUserSuspicion);
    const addresses = this.addresses.readSuspects().sort(byAddressSuspicion);
    return {
      items, users: users.slice(0, limit), addresses: addresses.slice(0, limit),
      usersListed: users.length, addressesListed: addresses.length,
    };
  }
}
