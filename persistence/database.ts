// The SQLite database: schema, pragmas and the statements that read and
// write items. Orders are written only by the persistence worker (through
// log-applier.ts); items by the main thread. WAL mode lets shard workers read
// their items' orders at start-up while others write.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import { databaseFile } from './data-directory';
import type { ItemDefinition, SaleMode } from './item-definition';
import { orderIdRange } from './order-id';

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
  updated_at INTEGER NOT NULL,
  -- The buy's Idempotency-Key as a number (engine/idempotency-key.ts), or
  -- NULL for a buy without one. Read once, at start-up, without an index.
  idem_key   INTEGER
);
-- How many records of each log segment are already in this database: the
-- exactly-once bookkeeping of the write-behind log, updated in the same
-- transaction as the rows the records made.
CREATE TABLE IF NOT EXISTS log_applied (
  segment TEXT    PRIMARY KEY,
  records INTEGER NOT NULL
);
-- Every admin action, with who asked and what changed: the audit log.
CREATE TABLE IF NOT EXISTS admin_actions (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      INTEGER NOT NULL,
  actor   TEXT    NOT NULL,
  address TEXT    NOT NULL,
  action  TEXT    NOT NULL,
  detail  TEXT    NOT NULL
);
-- Each settled round of an item (engine/settlement.ts), so it is settled once.
CREATE TABLE IF NOT EXISTS settlements (
  item_row   INTEGER NOT NULL,
  ends_at    INTEGER NOT NULL,
  settled_at INTEGER NOT NULL,
  report     TEXT    NOT NULL,
  PRIMARY KEY (item_row, ends_at)
);
-- Admin bans: kind 'user' (a user id) or 'address' (an IP range in CIDR).
CREATE TABLE IF NOT EXISTS bans (
  kind   TEXT    NOT NULL,
  value  TEXT    NOT NULL,
  at     INTEGER NOT NULL,
  actor  TEXT    NOT NULL,
  reason TEXT    NOT NULL,
  PRIMARY KEY (kind, value)
);
-- Waitlist places (engine/waitlist-queue.ts), one per user and item, from
-- waitlisted log records: order_id is the order a returned unit was offered
-- as (NULL while waiting), dropped_at when the place was skipped because its
-- user held the per-user limit by its turn.
CREATE TABLE IF NOT EXISTS waitlist (
  item_row   INTEGER NOT NULL,
  place      INTEGER NOT NULL,
  user_id    INTEGER NOT NULL,
  joined_at  INTEGER NOT NULL,
  order_id   INTEGER,
  dropped_at INTEGER,
  PRIMARY KEY (item_row, place)
);
-- The outcome stream (persistence/outcome-events.ts): one row per applied
-- log record, numbered in the order the persistence worker applied them.
-- A row is inserted in the same transaction as the record's change to
-- orders and its log_applied count, so each record has exactly one event
-- and an event's seq never changes, whatever moment the process dies at.
-- The record's own fields, as it holds them; names are given on reading.
CREATE TABLE IF NOT EXISTS events (
  seq        INTEGER PRIMARY KEY,
  type       INTEGER NOT NULL,
  state      INTEGER NOT NULL,
  order_id   INTEGER NOT NULL,
  item_row   INTEGER NOT NULL,
  user_id    INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  pay_by     INTEGER,
  created_at INTEGER NOT NULL,
  -- The waitlist place of a won record made by a waitlist offer; NULL for every other record.
  place      INTEGER
);
-- Entries of fair start windows (engine/fair-window.ts): who entered an
-- item's window that closes at draw_at, in entry order, so that a restart
-- inside the window, or before its draw, keeps every entrant.
CREATE TABLE IF NOT EXISTS fair_entries (
  item_row   INTEGER NOT NULL,
  draw_at    INTEGER NOT NULL,
  entrant    INTEGER NOT NULL,
  user_id    INTEGER NOT NULL,
  entered_at INTEGER NOT NULL,
  idem_key   INTEGER,
  PRIMARY KEY (item_row, draw_at, entrant)
);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;


/**
 * Opens the database. WAL with synchronous=NORMAL survives the process dying
 * at any moment (a commit is in the WAL file once it returns); with `fsync`
 * (synchronous=FULL) a commit also survives power loss.
 */
export function openDatabase(dataDir: string, options: { fsync: boolean; readonly?: boolean }): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(databaseFile(dataDir),
    { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  db.pragma('busy_timeout = 10000');
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
    db.exec(SCHEMA);
    migrate(db);
  }
  return db;
}

/** Columns added after the first release, added to databases made before them. */
function migrate(db: Db): void {
  const columns = new Set((db.prepare('PRAGMA table_info(items)').all() as { name: string }[]).map((c) => c.name));
  if (!columns.has('paused')) db.exec('ALTER TABLE items ADD COLUMN paused INTEGER NOT NULL DEFAULT 0');
  // The item as the sale file last said it: a restart with an unchanged file keeps admin changes.
  if (!columns.has('file_definition')) db.exec('ALTER TABLE items ADD COLUMN file_definition TEXT');
  if (!columns.has('fair_window_ms')) db.exec('ALTER TABLE items ADD COLUMN fair_window_ms INTEGER NOT NULL DEFAULT 0');
  const orderColumns = new Set((db.prepare('PRAGMA table_info(orders)').all() as { name: string }[])
    .map((c) => c.name));
  if (!orderColumns.has('idem_key')) db.exec('ALTER TABLE orders ADD COLUMN idem_key INTEGER');
  if (!columns.has('waitlist')) db.exec('ALTER TABLE items ADD COLUMN waitlist INTEGER NOT NULL DEFAULT 0');
}

export interface StoredItem extends ItemDefinition {
  row: number;
  /** Paused by an admin: buys are refused 503 paused until resumed. */
  paused?: boolean;
}

interface ItemRow {
  row: number; id: string; name: string; price: number; stock: number; per_user_limit: number;
  starts_at: number; ends_at: number; mode: string; pay_window_sec: number; challenge: number; paused: number;
  waitlist: number;
  fair_window_ms: number;
}

function fromRow(r: ItemRow): StoredItem {
  return {
    row: r.row, id: r.id, name: r.name, price: r.price, stock: r.stock, perUserLimit: r.per_user_limit,
    startsAt: r.starts_at, endsAt: r.ends_at, mode: r.mode as SaleMode, payWindowSec: r.pay_window_sec,
    challenge: r.challenge === 1, fairWindowMs: r.fair_window_ms,
    paused: r.paused === 1,
    ...(r.waitlist === 1 ? { waitlist: true } : {}),
  };
}

export function deleteItem(db: Db, row: number): void {
  db.prepare('DELETE FROM items WHERE row = ?').run(row);
}

export function readItems(db: Db): StoredItem[] {
  return (db.prepare('SELECT * FROM items ORDER BY row').all() as ItemRow[]).map(fromRow);
}

/** Inserts or updates an item definition by id; returns its row. */
export function upsertItem(db: Db, item: ItemDefinition, nowMs: number): number {
  db.prepare(`INSERT INTO items (id, name, price, stock, per_user_limit, starts_at, ends_at, mode, ` +
    `pay_window_sec, challenge, fair_window_ms, updated_at, waitlist)
    VALUES (@id, @name, @price, @stock, @perUserLimit, @startsAt, @endsAt, @mode, @payWindowSec, @challenge,
      @fairWindowMs, @now, @waitlist)
    ON CONFLICT(id) DO UPDATE SET name = excluded.name, price = excluded.price, stock = excluded.stock,
      per_user_limit = excluded.per_user_limit, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
      mode = excluded.mode, pay_window_sec = excluded.pay_window_sec, challenge = excluded.challenge,
      fair_window_ms = excluded.fair_window_ms, ` +
    `updated_at = excluded.updated_at, waitlist = excluded.waitlist`)
    .run({ ...item, challenge: item.challenge ? 1 : 0, now: nowMs, waitlist: item.waitlist === true ? 1 : 0 });
  return (db.prepare('SELECT row FROM items WHERE id = ?').get(item.id) as { row: number }).row;
}

/** Units held by live orders (reserved, paid, confirmed) of the item with this row. */
export function unitsHeld(db: Db, row: number): number {
  const { first, last } = orderIdRange(row);
  const held = db.prepare('SELECT COUNT(*) AS n FROM orders WHERE id BETWEEN ? AND ? AND state IN (1, 2, 3)')
    .get(first, last);
  return (held as { n: number }).n;
}

/** The most units of the item (by row) any one user holds. */
export function mostHeldByOneUser(db: Db, row: number): number {
  const { first, last } = orderIdRange(row);
  const found = db.prepare(`SELECT MAX(n) AS n FROM (SELECT COUNT(*) AS n FROM orders ` +
    `WHERE id BETWEEN ? AND ? AND state IN (1, 2, 3) GROUP BY user_id)`)
    .get(first, last) as { n: number | null };
  return found.n ?? 0;
}

/** Whether the item (by row) has any order at all. */
export function hasOrders(db: Db, row: number): boolean {
  const { first, last } = orderIdRange(row);
  return db.prepare('SELECT 1 FROM orders WHERE id BETWEEN ? AND ? LIMIT 1').get(first, last) !== undefined;
}

export interface KeyedOrder {
  id: number;
  itemRow: number;
  userId: number;
  key: number;
  /** 0 when the order has none. */
  payBy: number;
}

/** Every order won with an idempotency key, one at a time (a sale's orders need not fit in memory at once). */
export function* keyedOrders(db: Db): Generator<KeyedOrder> {
  const rows = db.prepare('SELECT id, item_row, user_id, idem_key, pay_by FROM orders WHERE idem_key IS NOT NULL')
    .iterate() as IterableIterator<{ id: number; item_row: number; user_id: number; idem_key: number;
      pay_by: number | null }>;
  for (const r of rows) {
    yield { id: r.id, itemRow: r.item_row, userId: r.user_id, key: r.idem_key, payBy: r.pay_by ?? 0 };
  }
}

/** One entrant of a fair window, as fair_entries keeps it. */
export interface FairEntry {
  userId: number;
  /** The entry's idempotency key, 0 for none. */
  key: number;
}

/** The entrants of the item's (by row) window that closes at drawAt, in entry order. */
export function readFairEntries(db: Db, row: number, drawAt: number): FairEntry[] {
  return (db.prepare('SELECT user_id, idem_key FROM fair_entries WHERE item_row = ? AND draw_at = ? ORDER BY entrant')
    .raw().all(row, drawAt) as [number, number | null][]).map(([userId, key]) => ({ userId, key: key ?? 0 }));
}

export function readMeta(db: Db, key: string): string | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row ? row.value : null;
}

export function writeMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
    .run(key, value);
}

/** Sets an item's paused flag; true when the item exists. */
export function setPaused(db: Db, row: number, paused: boolean, nowMs: number): boolean {
  return db.prepare('UPDATE items SET paused = ?, updated_at = ? WHERE row = ?')
    .run(paused ? 1 : 0, nowMs, row).changes === 1;
}

/** Adds units to an item's stock and returns the new stock. */
export function addStock(db: Db, row: number, units: number, nowMs: number): number {
  db.prepare('UPDATE items SET stock = stock + ?, updated_at = ? WHERE row = ?').run(units, nowMs, row);
  return (db.prepare('SELECT stock FROM items WHERE row = ?').get(row) as { stock: number }).stock;
}

export interface AdminAction {
  at: number;
  actor: string;
  address: string;
  action: string;
  detail: unknown;
}

export function recordAdminAction(db: Db, action: AdminAction): void {
  db.prepare('INSERT INTO admin_actions (at, actor, address, action, detail) VALUES (?, ?, ?, ?, ?)')
    .run(action.at, action.actor, action.address, action.action, JSON.stringify(action.detail));
}

export function readAdminActions(db: Db, limit: number): AdminAction[] {
  return (db.prepare('SELECT at, actor, address, action, detail FROM admin_actions ORDER BY id DESC LIMIT ?')
    .all(limit) as (Omit<AdminAction, 'detail'> & { detail: string })[])
    .map((row) => ({ ...row, detail: JSON.parse(row.detail) as unknown }));
}

/** The definition a sale file last gave the item, as JSON, or null. */
export function fileDefinitionOf(db: Db, id: string): string | null {
  const row = db.prepare('SELECT file_definition FROM items WHERE id = ?')
    .get(id) as { file_definition: string | null } | undefined;
  return row ? row.file_definition : null;
}

export function setFileDefinition(db: Db, id: string, definition: string): void {
  db.prepare('UPDATE items SET file_definition = ? WHERE id = ?').run(definition, id);
}

export interface Ban {
  kind: 'user' | 'address';
  value: string;
  at: number;
  actor: string;
  reason: string;
}

export function addBan(db: Db, ban: Ban): void {
  db.prepare('INSERT INTO bans (kind, value, at, actor, reason) VALUES (@kind, @value, @at, @actor, @reason) ' +
    'ON CONFLICT(kind, value) DO UPDATE SET at = excluded.at, actor = excluded.actor, reason = excluded.reason')
    .run(ban);
}

export function removeBan(db: Db, kind: Ban['kind'], value: string): boolean {
  return db.prepare('DELETE FROM bans WHERE kind = ? AND value = ?').run(kind, value).changes === 1;
}

export function readBans(db: Db): Ban[] {
  return db.prepare('SELECT kind, value, at, actor, reason FROM bans ORDER BY at').all() as Ban[];
}
