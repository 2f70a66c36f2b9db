// The SQLite database: schema, pragmas and the statements that read and
// write items. Orders are written only by the persistence worker (through
// log-applier.ts); items by the main thread. WAL mode lets shard workers read
// their items' orders at start-up while others write.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { ItemDefinition, SaleMode } from '../engine/sale-definition';

export type Db = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  row            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT    NOT NULL UNIQUE,
  name           TEXT    NOT NULL,
  price          INTEGER NOT NULL,
  stock          INTEGER NOT NULL,
  per_user_limit INTEGER NOT NULL,
  starts_at      INTEGER NOT NULL,
  ends_at        INTEGER NOT NULL,
  mode           TEXT    NOT NULL,
  pay_window_sec INTEGER NOT NULL,
  challenge      INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);
-- An order id is item row * 2^32 + sequence, so an item's orders are one
-- range of the primary key and need no other index.
CREATE TABLE IF NOT EXISTS orders (
  id         INTEGER PRIMARY KEY,
  item_row   INTEGER NOT NULL,
  user_id    INTEGER NOT NULL,
  state      INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  pay_by     INTEGER,
  updated_at INTEGER NOT NULL
);
-- How many records of each log segment are already in this database: the
-- exactly-once bookkeeping of the write-behind log, updated in the same
-- transaction as the rows the records made.
CREATE TABLE IF NOT EXISTS log_applied (
  segment TEXT    PRIMARY KEY,
  records INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

export function databaseFile(dataDir: string): string {
  return path.join(dataDir, 'flash-sale.sqlite');
}

/**
 * Opens the database. WAL with synchronous=NORMAL survives the process dying
 * at any moment (a commit is in the WAL file once it returns); with `fsync`
 * (synchronous=FULL) a commit also survives power loss.
 */
export function openDatabase(dataDir: string, options: { fsync: boolean; readonly?: boolean }): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(databaseFile(dataDir), { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  db.pragma('busy_timeout = 10000');
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
    db.exec(SCHEMA);
  }
  return db;
}

export interface StoredItem extends ItemDefinition {
  row: number;
}

interface ItemRow {
  row: number; id: string; name: string; price: number; stock: number; per_user_limit: number;
  starts_at: number; ends_at: number; mode: string; pay_window_sec: number; challenge: number;
}

function fromRow(r: ItemRow): StoredItem {
  return {
    row: r.row, id: r.id, name: r.name, price: r.price, stock: r.stock, perUserLimit: r.per_user_limit,
    startsAt: r.starts_at, endsAt: r.ends_at, mode: r.mode as SaleMode, payWindowSec: r.pay_window_sec, challenge: r.challenge === 1,
  };
}

export function readItems(db: Db): StoredItem[] {
  return (db.prepare('SELECT * FROM items ORDER BY row').all() as ItemRow[]).map(fromRow);
}

/** Inserts or updates an item definition by id; returns its row. */
export function upsertItem(db: Db, item: ItemDefinition, nowMs: number): number {
  db.prepare(`INSERT INTO items (id, name, price, stock, per_user_limit, starts_at, ends_at, mode, pay_window_sec, challenge, updated_at)
    VALUES (@id, @name, @price, @stock, @perUserLimit, @startsAt, @endsAt, @mode, @payWindowSec, @challenge, @now)
    ON CONFLICT(id) DO UPDATE SET name = excluded.name, price = excluded.price, stock = excluded.stock,
      per_user_limit = excluded.per_user_limit, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
      mode = excluded.mode, pay_window_sec = excluded.pay_window_sec, challenge = excluded.challenge, updated_at = excluded.updated_at`)
    .run({ ...item, challenge: item.challenge ? 1 : 0, now: nowMs });
  return (db.prepare('SELECT row FROM items WHERE id = ?').get(item.id) as { row: number }).row;
}

/** Units held by live orders (reserved, paid, confirmed) of the item with this row. */
export function unitsHeld(db: Db, row: number): number {
  const first = row * 4294967296;
  return (db.prepare('SELECT COUNT(*) AS n FROM orders WHERE id BETWEEN ? AND ? AND state IN (1, 2, 3)').get(first, first + 4294967295) as { n: number }).n;
}

export function readMeta(db: Db, key: string): string | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row ? row.value : null;
}

export function writeMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}
