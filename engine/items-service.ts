// Changes to the items while the engine runs (the admin API): create,
// update, restock, pause and resume, delete. Each change is checked, made
// durable, published to the threads that serve the item, and audited; the
// admin routes only read the request and write the answer.
//
// An item lives in four places, and a change reaches them in this order:
//
//   database ──▶ shared memory ──▶ shard ──▶ catalog
//   (row,        (left,            (its      (byId: routes find the item,
//    durable)     settings)         book)     bodies of /api/items)
//
// - The database first: it gives a new item its row (order ids are built
//   from it), and a change answered as done must survive a crash. A change
//   refused by a check leaves nothing to undo in memory.
// - Shared memory before the shard: a worker builds the new book from the
//   shared settings, and the buy gate refuses sold_out while `left` reads 0,
//   so `left` must hold the stock before any route can find the item.
// - The shard before the catalog: a request reaches a shard only through
//   the catalog's byId, and the new book travels down the same request ring
//   as the requests that follow, so each of them finds the item on its shard.
// - The catalog last: the item becomes visible only once everything that
//   serves it is in place. Every HTTP thread has its own catalog; each
//   change reaches all of them before the admin is answered
//   (catalog-changes.ts).
//
// Restock goes database, then shard (OP.restock on the ring): `left` is
// written only by the shard, so no buy sees the new units before the shard
// owns them, and the answer is written once it does. Update and delete are
// refused while the item is live, so no buy is decided under a half-made
// change; a deleted item keeps its index and its book until a restart, so
// no index moves under a request in flight.

import assert from 'node:assert/strict';
import type pino from 'pino';
import { addStock, deleteItem, setPaused, upsertItem, type Db, type StoredItem } from '../persistence/database';
import { audit, type Caller } from './admin-audit';
import type { CatalogChanges } from './catalog-changes';
import { ITEMS_MAX, ITEM_ROW_MAX, STOCK_MAX } from './constants';
import type { ErrorCode } from './error-catalog';
import { writeSettings } from './item-book';
import type { ItemCatalog } from './item-catalog';
import type { ItemCounters } from './item-counters';
import { checkAgainstSales } from './sale-rules';
import type { ItemDefinition } from '../persistence/item-definition';
import { checkItem, SaleDefinitionError } from './sale-definition';
import { OP } from './shard';
import type { ShardDispatcher } from './shard-dispatcher';

/**
 * A change the service refuses: the error code, and the message the answer
 * carries (null: the code's plain body).
 */
export class ItemRefusal extends Error {
  constructor(readonly code: ErrorCode, readonly detail: string | null = null) {
    super(detail ?? code);
  }
}

/** Fields an update may change; stock changes by restock, mode and id never. */
const UPDATABLE = new Set(['name', 'price', 'startsAt', 'endsAt', 'perUserLimit', 'payWindowSec', 'fairWindowMs']);

/** Where a restock's answer goes: the shard answers it once it has the units. */
export type RestockReply = Parameters<ShardDispatcher['dispatch']>[0];

export class ItemsService {
  constructor(private readonly db: Db, private readonly catalog: ItemCatalog, private readonly shards: ShardDispatcher,
    private readonly counts: ItemCounters, private readonly changes: CatalogChanges,
    private readonly log: pino.Logger) {}

  /** Adds an item, sold from the next moment its times allow; returns its index. */
  create(definition: ItemDefinition, caller: Caller): number {
    const { catalog } = this;
    if (catalog.byId.has(definition.id)) throw new ItemRefusal('item_exists', `item "${definition.id}" exists`);
    if (catalog.items.length >= ITEMS_MAX) {
      throw new ItemRefusal('bad_request', `the engine holds at most ${ITEMS_MAX} items until a restart`);
    }
    const row = upsertItem(this.db, definition, Date.now());
    if (row > ITEM_ROW_MAX) {
      deleteItem(this.db, row);
      throw new ItemRefusal('bad_request', `item rows are exhausted (${ITEM_ROW_MAX})`);
    }
    const item: StoredItem = { ...definition, row, paused: false };
    const index = catalog.items.length;
    Atomics.store(catalog.left, index, item.stock);
    writeSettings(catalog.settings, index, item);
    this.shards.addItem(item, index);
    this.changes.apply({ kind: 'add', index, item });
    audit(this.db, this.log, caller, 'create', { item: item.id, definition });
    return index;
  }

  /**
   * A new round or a correction, never under a live sale: refused while the
   * item is live, and a new pay window is refused while reservations made
   * under the old one are open.
   */
  update(index: number, patch: Record<string, unknown>, caller: Caller): void {
    const current = this.existing(index);
    const refused = Object.keys(patch).find((key) => !UPDATABLE.has(key));
    if (refused !== undefined) {
      throw new ItemRefusal('bad_request', `field "${refused}" cannot be updated (stock: use restock)`);
    }
    const now = Date.now();
    refuseLive(current, now);
    const { row, paused, ...definition } = current;
    const where = `item "${current.id}"`;
    const next: StoredItem = { ...asRefusal(() => checkItem({ ...definition, ...patch }, where)), row, paused };
    asRefusal(() => checkAgainstSales(this.db, current, next, where));
    const open = this.counts.openReservations(index);
    if (next.payWindowSec !== current.payWindowSec && open > 0) {
      throw new ItemRefusal('reservations_open', `${open} reservations made under the old pay window are still open`);
    }
    upsertItem(this.db, next, now);
    this.changes.apply({ kind: 'update', index, item: next });
    audit(this.db, this.log, caller, 'update', { item: current.id, patch });
  }

  /** Adds `add` units (a positive integer); the shard owning the item answers `reply` once it has them. */
  restock(index: number, add: number, caller: Caller, reply: RestockReply): void {
    assert.ok(Number.isSafeInteger(add));
    assert.ok(add >= 1);
    const item = this.existing(index);
    if (item.stock + add > STOCK_MAX) throw new ItemRefusal('bad_request');
    this.changes.apply({ kind: 'stock', index, stock: addStock(this.db, item.row, add, Date.now()) });
    audit(this.db, this.log, caller, 'restock', { item: item.id, add, stock: item.stock });
    this.shards.dispatch(reply, OP.restock, index, 0, add, Date.now(), 0);
  }

  /** Pauses (buys refused 503 paused) or resumes an item. */
  setPaused(index: number, paused: boolean, caller: Caller): void {
    const item = this.existing(index);
    setPaused(this.db, item.row, paused, Date.now());
    this.changes.apply({ kind: 'paused', index, paused });
    audit(this.db, this.log, caller, paused ? 'pause' : 'resume', { item: item.id });
  }

  /** Deletes an item that is not live and never sold a unit (orders keep their item); returns its id. */
  delete(index: number, caller: Caller): string {
    const item = this.existing(index);
    refuseLive(item, Date.now());
    const won = this.counts.won(index);
    if (won > 0) throw new ItemRefusal('item_has_orders', `item "${item.id}" has ${won} orders; export them, it stays`);
    deleteItem(this.db, item.row);
    this.changes.apply({ kind: 'remove', index });
    audit(this.db, this.log, caller, 'delete', { item: item.id });
    return item.id;
  }

  /** The item at `index`, refused unknown_item if it was deleted while its request's body was read. */
  private existing(index: number): StoredItem {
    if (this.catalog.deleted[index] === 1) throw new ItemRefusal('unknown_item');
    return this.catalog.items[index]!;
  }
}

function refuseLive(item: StoredItem, nowMs: number): void {
  if (nowMs >= item.startsAt && nowMs < item.endsAt) {
    throw new ItemRefusal('item_live', `item "${item.id}" is live until ${new Date(item.endsAt).toISOString()}`);
  }
}

/** Runs a sale-definition check, its refusal becoming bad_request with the check's message. */
function asRefusal<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof SaleDefinitionError) throw new ItemRefusal('bad_request', error.message);
    throw error;
  }
}
