// Checks, after an engine run has stopped, that the load did not break the
// contract's guarantees: the benchmark must never report a throughput that
// came from selling twice, losing orders, or ignoring the per-user limit. It
// opens the engine's SQLite file read-only and compares it with what the
// load generator saw and what the engine logged on shutdown.
//
// Why a range and not equality for the 200 answers: autocannon closes its
// connections when a phase ends, so a buy in flight at that moment may have
// been decided and logged by the engine while its answer was never counted.
// Each phase leaves at most one such buy per connection.

import path from 'node:path';
import Database from 'better-sqlite3';

export interface InvariantInput {
  dataDir: string;
  itemId: string;
  stock: number;
  perUserLimit: number;
  userCount: number;
  /** 200 answers counted by the generator, warm-up included. */
  wonAnswers: number;
  /** Buys the generator may have abandoned in flight: connections times phases. */
  inFlightMax: number;
  /** `ordersWon` from the engine's "stopped" log line, or null if it was not seen. */
  engineOrdersWon: number | null;
}

export interface InvariantReport {
  orders: number;
  distinctOrderIds: number;
  distinctUsers: number;
  ordersPerUserMax: number;
  failures: string[];
}

interface ItemRow { row: number; stock: number; per_user_limit: number }
interface OrderCounts { orders: number; distinct_ids: number; distinct_users: number; user_min: number | null; user_max: number | null }

function readCounts(dataDir: string, itemId: string): { item: ItemRow | undefined; counts: OrderCounts; perUserMax: number } {
  const db = new Database(path.join(dataDir, 'flash-sale.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const item = db.prepare('SELECT row, stock, per_user_limit FROM items WHERE id = ?').get(itemId) as ItemRow | undefined;
    const row = item?.row ?? -1;
    const counts = db.prepare(`SELECT COUNT(*) AS orders, COUNT(DISTINCT id) AS distinct_ids, COUNT(DISTINCT user_id) AS distinct_users,
      MIN(user_id) AS user_min, MAX(user_id) AS user_max FROM orders WHERE item_row = ?`).get(row) as OrderCounts;
    const perUser = db.prepare('SELECT MAX(held) AS held FROM (SELECT COUNT(*) AS held FROM orders WHERE item_row = ? GROUP BY user_id)').get(row) as { held: number | null };
    return { item, counts, perUserMax: perUser.held ?? 0 };
  } finally {
    db.close();
  }
}

export function checkOrderInvariants(input: InvariantInput): InvariantReport {
  const { item, counts, perUserMax } = readCounts(input.dataDir, input.itemId);
  const failures: string[] = [];
  const fail = (why: string): void => void failures.push(why);
  if (item === undefined) fail(`item "${input.itemId}" is not in the database`);
  else if (item.stock !== input.stock) fail(`item stock is ${item.stock} in the database, the sale said ${input.stock}`);
  if (counts.orders > input.stock) fail(`${counts.orders} orders for a stock of ${input.stock}: oversold`);
  if (counts.distinct_ids !== counts.orders) fail(`${counts.orders} orders but ${counts.distinct_ids} distinct order ids`);
  if (perUserMax > input.perUserLimit) fail(`a user holds ${perUserMax} units, over the per-user limit of ${input.perUserLimit}`);
  if (counts.orders > 0 && (counts.user_min! < 1 || counts.user_max! > input.userCount)) {
    fail(`order user ids span ${counts.user_min}..${counts.user_max}, outside the token pool 1..${input.userCount}`);
  }
  if (counts.orders < input.wonAnswers) fail(`${input.wonAnswers} won answers but only ${counts.orders} orders in SQLite: acknowledged orders lost`);
  if (counts.orders > input.wonAnswers + input.inFlightMax) {
    fail(`${counts.orders} orders but only ${input.wonAnswers} won answers (+ at most ${input.inFlightMax} abandoned in flight)`);
  }
  if (input.engineOrdersWon === null) fail('the engine did not log its "stopped" line with ordersWon');
  else if (input.engineOrdersWon !== counts.orders) fail(`the engine logged ${input.engineOrdersWon} orders won but SQLite holds ${counts.orders}`);
  return { orders: counts.orders, distinctOrderIds: counts.distinct_ids, distinctUsers: counts.distinct_users, ordersPerUserMax: perUserMax, failures };
}
