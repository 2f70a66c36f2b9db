// The rules a new definition of an item must keep with what it already
// sold, shared by start-up (a sale file) and the admin API (an update).

import { hasOrders, mostHeldByOneUser, unitsHeld, type Db, type StoredItem } from '../persistence/database';
import { SaleDefinitionError, type ItemDefinition } from './sale-definition';

/**
 * What a new definition of an item may not do to what is already sold:
 * stock below the units held, a per-user limit below what a user already
 * holds, or another mode once there are orders.
 */
export function checkAgainstSales(db: Db, stored: StoredItem, next: ItemDefinition, where: string): void {
  const held = unitsHeld(db, stored.row);
  if (next.stock < held) throw new SaleDefinitionError(`${where}: field "stock" is ${next.stock} but ${held} units are already sold or reserved`);
  const most = mostHeldByOneUser(db, stored.row);
  if (next.perUserLimit < most) throw new SaleDefinitionError(`${where}: field "perUserLimit" is ${next.perUserLimit} but a user already holds ${most} units`);
  if (next.mode !== stored.mode && hasOrders(db, stored.row)) throw new SaleDefinitionError(`${where}: field "mode" cannot change once the item has orders`);
}

