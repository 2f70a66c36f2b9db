// The one reader of the per-item counters. Two threads count an item's
// life: its shard counts orders by state and the refusals it decides
// (shard.ts COUNTER), each HTTP thread counts the buys it refuses before
// any shard (item-catalog.ts REFUSAL). Admin stats, /metrics, settlement
// and admin updates all read them here, so "open reservations" and
// "refused as sold_out" mean one thing everywhere.
//
// Orders are counted from the start of the sale (start-up counts the
// recovered orders); refusals since the engine started.

import type { StoredItem } from '../persistence/database';
import { BUY_REFUSALS, type BuyRefusal } from './error-catalog';
import { REFUSAL, REFUSAL_FIELDS } from './item-catalog';
import { COUNTER, COUNTER_FIELDS } from './shard';

/** Shard counters of refusals the shard decides, by the code the buy is answered with. */
const SHARD_REFUSAL: Partial<Record<BuyRefusal, number>> = {
  sold_out: COUNTER.soldOut, limit_reached: COUNTER.limitReached,
};

/** What the reader needs of the catalog: each item's mode. */
export interface CountedItems {
  readonly items: readonly Pick<StoredItem, 'mode'>[];
}

export interface ItemCounts {
  /** Orders made (every state). */
  won: number;
  /** Reservations neither paid, cancelled nor expired; 0 for an item in order mode. */
  reserved: number;
  paid: number;
  /** Orders of an item in order mode, confirmed as they are made; 0 in reserve mode. */
  confirmed: number;
  expired: number;
  cancelled: number;
  /** Refused buys by the code they were answered with, whichever thread refused them. */
  refused: Record<BuyRefusal, number>;
}

export class ItemCounters {
  /**
   * `shardCounters` holds COUNTER_FIELDS per item index (shard.ts), written
   * by the owning shards; `httpRefusals` one ItemCatalog.refusals per HTTP
   * thread (thread-counters.ts), summed here.
   */
  constructor(private readonly catalog: CountedItems, private readonly shardCounters: Float64Array,
    private readonly httpRefusals: readonly Float64Array[]) {}

  /** Orders made for the item, in any state. */
  won(index: number): number {
    return this.shard(index, COUNTER.won);
  }

  /** Orders made for every item the engine has held since it started, deleted ones included. */
  wonTotal(): number {
    let total = 0;
    for (let index = 0; index < this.catalog.items.length; index++) total += this.won(index);
    return total;
  }

  /** Reservations still waiting for payment, cancellation or expiry; an item in order mode has none. */
  openReservations(index: number): number {
    if (this.catalog.items[index]!.mode !== 'reserve') return 0;
    const paid = this.shard(index, COUNTER.paid);
    return this.won(index) - paid - this.shard(index, COUNTER.cancelled) - this.shard(index, COUNTER.expired);
  }

  /** Buys of the item refused with `code`, by the HTTP thread and by the shard. */
  refused(index: number, code: BuyRefusal): number {
    const shardField = SHARD_REFUSAL[code];
    const byShard = shardField === undefined ? 0 : this.shard(index, shardField);
    const slot = index * REFUSAL_FIELDS + REFUSAL[code];
    let byHttp = 0;
    for (const refusals of this.httpRefusals) byHttp += refusals[slot]!;
    return byShard + byHttp;
  }

  read(index: number): ItemCounts {
    const won = this.won(index);
    const refused = {} as Record<BuyRefusal, number>;
    for (const code of BUY_REFUSALS) refused[code] = this.refused(index, code);
    return {
      won, reserved: this.openReservations(index), paid: this.shard(index, COUNTER.paid),
      confirmed: this.catalog.items[index]!.mode === 'order' ? won : 0,
      expired: this.shard(index, COUNTER.expired), cancelled: this.shard(index, COUNTER.cancelled), refused,
    };
  }

  private shard(index: number, field: number): number {
    return this.shardCounters[index * COUNTER_FIELDS + field]!;
  }
}
