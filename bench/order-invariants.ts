// Checks, after an engine run has stopped, that the load did not break the
// contract's guarantees: the benchmark must never report a throughput that
// came from selling twice, losing orders, or ignoring the per-user limit. It
// compares three views: what the load generator saw (won answers), the
// engine's own state read over the admin API right after the load, and its
// SQLite file, opened read-only after SIGTERM.
//
// Why a range and not equality for the won answers: a generator closes its
// connections when a phase ends, so a buy in flight at that moment may have
// been decided and logged by the engine while its answer was never counted.
// Each phase leaves at most one such buy per connection.

import path from 'node:path';
import Database from 'better-sqlite3';

export interface ItemLimits { id: string; stock: number; perUserLimit: number }

/** One item of GET /admin/stats, the fields checked here. */
export interface ItemStats { id: string; stock: number; left: number; won: number }

export interface InvariantInput {
  dataDir: string;
  items: readonly ItemLimits[];
  /** Users in the token pool are 1..userCount. */
  userCount: number;
  /** Won answers counted by the generator over all phases. */
  wonAnswers: number;
  /** Buys the generator may have abandoned in flight: connections times phases. */
  inFlightMax: number;
  /** `ordersWon` from the engine's "stopped" log line, or null if it was not seen. */
  engineOrdersWon: number | null;
  /** GET /admin/stats right after the load, or null if it could not be read. */
  engineStats: ItemStats[] | null;
}

export interface InvariantReport {
  orders: number;
  distinctUsers: number;
  ordersPerUserMax: number;
  failures: string[];
}

interface ItemRow { id: string; row: number; stock: number; per_user_limit: number }
interface OrderCounts { item_row: number; orders: number; distinct_ids: number; user_min: number; user_max: number }
interface Totals { orders: number; distinct_users: number }

function readDatabase(dataDir: string):
  { items: ItemRow[]; counts: OrderCounts[]; perUserMax: Map<number, number>; totals: Totals } {
  const db = new Database(path.join(dataDir, 'flash-sale.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const items = db.prepare('SELECT id, row, stock, per_user_limit FROM items').all() as ItemRow[];
    const counts = db.prepare(`SELECT item_row, COUNT(*) AS orders, COUNT(DISTINCT id) AS distinct_ids, ` +
      `MIN(user_id) AS user_min, MAX(user_id) AS user_max
      FROM orders GROUP BY item_row`).all() as OrderCounts[];
    const perUser = db.prepare('SELECT item_row, MAX(held) AS held FROM ' +
      '(SELECT item_row, COUNT(*) AS held FROM orders GROUP BY item_row, user_id) GROUP BY item_row')
      .all() as { item_row: number; held: number }[];
    const totals = db.prepare('SELECT COUNT(*) AS orders, COUNT(DISTINCT user_id) AS distinct_users FROM orders')
      .get() as Totals;
    return { items, counts, perUserMax: new Map(perUser.map((row) => [row.item_row, row.held])), totals };
  } finally {
    db.close();
  }
}

/** The engine's state right after the load against the sale: won never past stock, left + won = stock. */
function checkStats(input: InvariantInput, fail: (why: string) => void): number {
  if (input.engineStats === null) {
    fail('the engine\'s state (GET /admin/stats) could not be read after the load');
    return 0;
  }
  const byId = new Map(input.engineStats.map((stats) => [stats.id, stats]));
  let won = 0;
  for (const item of input.items) {
    const stats = byId.get(item.id);
    if (stats === undefined) {
      fail(`item "${item.id}" is missing from /admin/stats`);
      continue;
    }
    won += stats.won;
    if (stats.won > item.stock) {
      fail(`item "${item.id}": the engine says ${stats.won} won for a stock of ${item.stock}: oversold`);
    }
    if (stats.left + stats.won !== item.stock) {
      fail(`item "${item.id}": left ${stats.left} + won ${stats.won} is not the stock ${item.stock}`);
    }
  }
  return won;
}

export function checkOrderInvariants(input: InvariantInput): InvariantReport {
  const failures: string[] = [];
  const fail = (why: string): void => void failures.push(why);
  const statsWon = checkStats(input, fail);
  const database = readDatabase(input.dataDir);
  const rows = new Map(database.items.map((item) => [item.id, item]));
  const countsByRow = new Map(database.counts.map((counts) => [counts.item_row, counts]));
  let ordersPerUserMax = 0;
  for (const item of input.items) {
    const row = rows.get(item.id);
    if (row === undefined) {
      fail(`item "${item.id}" is not in the database`);
      continue;
    }
    if (row.stock !== item.stock) {
      fail(`item "${item.id}": stock ${row.stock} in the database, the sale said ${item.stock}`);
    }
    const counts = countsByRow.get(row.row);
    if (counts === undefined) continue;
    const held = database.perUserMax.get(row.row) ?? 0;
    ordersPerUserMax = Math.max(ordersPerUserMax, held);
    if (counts.orders > item.stock) {
      fail(`item "${item.id}": ${counts.orders} orders for a stock of ${item.stock}: oversold`);
    }
    if (counts.distinct_ids !== counts.orders) {
      fail(`item "${item.id}": ${counts.orders} orders but ${counts.distinct_ids} distinct order ids`);
    }
    if (held > item.perUserLimit) {
      fail(`item "${item.id}": a user holds ${held} units, over the per-user limit of ${item.perUserLimit}`);
    }
    if (counts.user_min < 1 || counts.user_max > input.userCount) {
      fail(`item "${item.id}": order user ids span ${counts.user_min}..${counts.user_max}, ` +
        `outside the token pool 1..${input.userCount}`);
    }
  }
  const orders = database.totals.orders;
  if (orders < input.wonAnswers) {
    fail(`${input.wonAnswers} won answers but only ${orders} orders in SQLite: acknowledged orders lost`);
  }
  if (orders > input.wonAnswers + input.inFlightMax) {
    fail(`${orders} orders but only ${input.wonAnswers} won answers ` +
      `(+ at most ${input.inFlightMax} abandoned in flight)`);
  }
  if (input.engineStats !== null && statsWon > orders) {
    fail(`the engine reported ${statsWon} won after the load but SQLite holds ${orders} orders`);
  }
  if (input.engineOrdersWon === null) fail('the engine did not log its "stopped" line with ordersWon');
  else if (input.engineOrdersWon !== orders) {
    fail(`the engine logged ${input.engineOrdersWon} orders won but SQLite holds ${orders}`);
  }
  return { orders, distinctUsers: database.totals.distinct_users, ordersPerUserMax, failures };
}
