// The rules a new definition of an item must keep with what it already
// sold, shared by start-up (a sale file), the admin API (an update) and
// `node scripts/sale check --data` (a sale file against a stopped engine's
// directory), so that all three refuse exactly the same definitions.

import { hasOrders, mostHeldByOneUser, unitsHeld, type Db, type StoredItem } from '../persistence/database';
import type { ItemDefinition, SaleMode } from '../persistence/item-definition';
import { SaleDefinitionError } from './sale-definition';

/** What an item has already sold: the facts a new definition may not contradict. */
export interface ItemSales {
  /** Units held by live orders (reserved, paid, confirmed). */
  unitsHeld: number;
  /** The most units any one user holds. */
  mostHeldByOneUser: number;
  /** Whether the item has any order at all, in any state. */
  hasOrders: boolean;
}

/** The item's sales as SQLite holds them (start-up has replayed the log by then; the admin API reads it live). */
export function salesInDatabase(db: Db, row: number): ItemSales {
  return {
    unitsHeld: unitsHeld(db, row),
    mostHeldByOneUser: mostHeldByOneUser(db, row),
    hasOrders: hasOrders(db, row),
  };
}

/**
 * What a new definition of an item may not do to what is already sold:
 * stock below the units held, a per-user limit below what a user already
 * holds, or another mode once there are orders. `mode` is the item's mode
 * now; `where` names the item in the message.
 */
export function checkAgainstSold(sales: ItemSales, mode: SaleMode, next: ItemDefinition, where: string): void {
  const refuse = (field: string, why: string): never => {
    throw new SaleDefinitionError(`${where}: field "${field}" ${why}`);
  };
  if (next.stock < sales.unitsHeld) {
    refuse('stock', `is ${next.stock} but ${sales.unitsHeld} units are already sold or reserved`);
  }
  if (next.perUserLimit < sales.mostHeldByOneUser) {
    refuse('perUserLimit', `is ${next.perUserLimit} but a user already holds ${sales.mostHeldByOneUser} units`);
  }
  if (next.mode !== mode && sales.hasOrders) refuse('mode', 'cannot change once the item has orders');
}

/** checkAgainstSold with the sales SQLite holds for `stored`. */
export function checkAgainstSales(db: Db, stored: StoredItem, next: ItemDefinition, where: string): void {
  checkAgainstSold(salesInDatabase(db, stored.row), stored.mode, next, where);
}
