// `node scripts/restore`: builds a fresh data directory from a snapshot file
// (engine/snapshot.ts's format), for when the data directory is lost or must
// be rebuilt as of a known moment. The result is an ordinary database: the
// engine starts on it normally and loads its items and orders.
//
// Each item keeps its original row, because an order id is row * 2^32 +
// sequence and shoppers hold those ids; the items' rows are inserted
// explicitly. Each item's stock is the snapshot's live stock (restocks
// included), the rest of its definition comes from `definition`.
//
// What a snapshot does not hold is not restored: orders won after it was
// taken, the ticket secret (a new one is made at start-up unless
// FLASH_TICKET_SECRET is set, so earlier buy paths stop working; the engine
// hands out new ones), the admin audit log, and which sale file last set each
// item (so the next --sale file updates every item it names).
//
// Everything is checked before anything is written, and the new directory
// must not hold a database or log segments: a restore never overwrites.

import fs from 'node:fs';
import path from 'node:path';
import { ITEM_ROW_MAX } from '../engine/constants';
import { checkItem, SaleDefinitionError } from '../engine/sale-definition';
import { databaseFile, databaseFiles, logDirectory } from '../persistence/data-directory';
import { openDatabase, recordAdminAction, setFileDefinition } from '../persistence/database';
import type { ItemDefinition } from '../persistence/item-definition';
import { holdsUnit, ORDER_STATE } from '../persistence/log-record';
import { itemRowOf, sequenceOf } from '../persistence/order-id';
import { readEnginePid } from './engine-pid';
import { EXIT_FAILED, EXIT_OK, requiredString, runCommand, UsageError, type CommandSpec } from './script-cli';

const COMMAND: CommandSpec = {
  name: 'restore',
  usage: ['--snapshot FILE --data NEWDIR'],
  description: [
    'Builds a new data directory from a snapshot (DATA/snapshots/snapshot-*.json): every item at its',
    'original row, so order ids stay valid, and every order with its owner, state and times. Checks',
    'left + held = stock for each item first. Refuses if NEWDIR already holds a database. Then run',
    '`node engine/start --data NEWDIR`. Not restored: orders after the snapshot, the ticket secret, the audit log.',
  ],
  flags: [
    { name: 'snapshot', kind: 'string', value: 'FILE', help: 'The snapshot file to restore from.' },
    { name: 'data', kind: 'string', value: 'NEWDIR', help: 'The data directory to create; must hold no database yet.' },
  ],
  positionalsMax: 0,
};

/** A snapshot that cannot be restored as it is: exit 1 with its message. */
class SnapshotError extends Error {}

interface RestoredOrder { id: number; user: number; state: number; createdAt: number; payBy: number | null }
interface RestoredItem {
  row: number; definition: ItemDefinition; paused: boolean; left: number; held: number; orders: RestoredOrder[];
  fileDefinition: string | null;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function checkOrder(raw: unknown, where: string, row: number): RestoredOrder {
  if (!Array.isArray(raw) || raw.length !== 5) {
    throw new SnapshotError(`${where}: must be [orderId, userId, state, createdAt, payBy]`);
  }
  const [id, user, stateName, createdAt, payBy] = raw as unknown[];
  if (!isPositiveInteger(id) || itemRowOf(id) !== row || sequenceOf(id) < 1) {
    throw new SnapshotError(`${where}: order id ${String(id)} is not row ${row} * 2^32 + a sequence >= 1`);
  }
  if (!isPositiveInteger(user)) throw new SnapshotError(`${where}: order ${id}: user ${String(user)} is not a user id`);
  const state = typeof stateName === 'string' ? (ORDER_STATE as Record<string, number>)[stateName] : undefined;
  if (state === undefined) {
    throw new SnapshotError(`${where}: order ${id}: state ${JSON.stringify(stateName)} ` +
      `is not one of ${Object.keys(ORDER_STATE).join(', ')}`);
  }
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) {
    throw new SnapshotError(`${where}: order ${id}: createdAt must be epoch ms`);
  }
  if (payBy !== null && (typeof payBy !== 'number' || !Number.isFinite(payBy) || payBy <= 0)) {
    throw new SnapshotError(`${where}: order ${id}: payBy must be epoch ms or null`);
  }
  return { id, user, state, createdAt, payBy: payBy as number | null };
}

/** Checks one item of the snapshot: definition, orders, and left + held = stock, holdings = orders. */
function checkSnapshotItem(raw: Record<string, unknown>, where: string): RestoredItem {
  const row = raw.row;
  if (!isPositiveInteger(row) || row > ITEM_ROW_MAX) {
    throw new SnapshotError(`${where}: row ${String(row)} is not in 1..${ITEM_ROW_MAX}`);
  }
  if (typeof raw.definition !== 'object' || raw.definition === null) {
    throw new SnapshotError(`${where}: has no "definition" ` +
      '(a snapshot from before definitions were kept cannot be restored)');
  }
  const { paused, ...fields } = raw.definition as Record<string, unknown>;
  let definition: ItemDefinition;
  try {
    definition = checkItem({ ...fields, stock: raw.stock }, where);
  } catch (error) {
    if (error instanceof SaleDefinitionError) throw new SnapshotError(error.message);
    throw error;
  }
  if (definition.id !== raw.id) {
    throw new SnapshotError(`${where}: id "${String(raw.id)}" differs from its definition's "${definition.id}"`);
  }
  if (!Array.isArray(raw.orders) || !Array.isArray(raw.holdings)) {
    throw new SnapshotError(`${where}: "orders" and "holdings" must be arrays`);
  }
  const orders = raw.orders.map((order, index) => checkOrder(order, `${where}: orders[${index}]`, row));
  const unitsByUser = new Map<number, number>();
  for (const order of orders) {
    if (holdsUnit(order.state)) unitsByUser.set(order.user, (unitsByUser.get(order.user) ?? 0) + 1);
  }
  const held = [...unitsByUser.values()].reduce((sum, units) => sum + units, 0);
  if (raw.left !== definition.stock - held) {
    throw new SnapshotError(`${where}: left ${String(raw.left)} + held ${held} is not stock ${definition.stock}`);
  }
  const holdings = new Map((raw.holdings as unknown[])
    .map((h) => (Array.isArray(h) ? [h[0], h[1]] : [null, null])) as [unknown, unknown][]);
  const disagree = [...unitsByUser].filter(([user, units]) => holdings.get(user) !== units).length
    + [...holdings.keys()].filter((user) => !unitsByUser.has(user as number)).length;
  if (disagree > 0) throw new SnapshotError(`${where}: holdings disagree with the orders for ${disagree} user(s)`);
  // Absent in snapshots from before it was kept: the first start with a sale file then re-applies the file.
  const fileDefinition = raw.fileDefinition ?? null;
  if (fileDefinition !== null && typeof fileDefinition !== 'string') {
    throw new SnapshotError(`${where}: "fileDefinition" must be a string or null`);
  }
  return { row, definition, paused: paused === true, left: raw.left as number, held, orders, fileDefinition };
}

function readSnapshot(file: string): { takenAt: number; items: RestoredItem[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--snapshot: cannot read ${file}: ${(error as Error).message}`);
  }
  let doc: { takenAt?: unknown; shards?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (error) {
    throw new SnapshotError(`not valid JSON: ${(error as Error).message}`);
  }
  if (typeof doc.takenAt !== 'number' || !Array.isArray(doc.shards)) {
    throw new SnapshotError('not a snapshot: needs "takenAt" and "shards"');
  }
  const items: RestoredItem[] = [];
  for (const [s, shard] of (doc.shards as { items?: unknown }[]).entries()) {
    if (!Array.isArray(shard?.items)) throw new SnapshotError(`shards[${s}]: needs "items"`);
    shard.items.forEach((raw: unknown, i: number) => {
      if (typeof raw !== 'object' || raw === null) {
        throw new SnapshotError(`shards[${s}].items[${i}]: must be an object`);
      }
      items.push(checkSnapshotItem(raw as Record<string, unknown>,
        `item "${String((raw as { id?: unknown }).id)}" (shards[${s}].items[${i}])`));
    });
  }
  const rows = new Set(items.map((item) => item.row));
  const ids = new Set(items.map((item) => item.definition.id));
  if (rows.size !== items.length || ids.size !== items.length) {
    throw new SnapshotError('two items share a row or an id');
  }
  return { takenAt: doc.takenAt, items: items.sort((a, b) => a.row - b.row) };
}

/** NEWDIR must hold nothing an engine would use: no database, no log segments, no live engine. */
function checkNewDirectory(dataDir: string): void {
  if (fs.existsSync(databaseFile(dataDir))) {
    throw new UsageError(`--data: ${dataDir} already holds a database; restore never overwrites, ` +
      'choose a new directory');
  }
  const logDir = logDirectory(dataDir);
  if (fs.existsSync(logDir) && fs.readdirSync(logDir).length > 0) {
    throw new UsageError(`--data: ${logDir} is not empty; start-up would replay it into the restored database`);
  }
  if (readEnginePid(dataDir).alive) throw new UsageError(`--data: an engine is running on ${dataDir}`);
}

function writeDatabase(dataDir: string, snapshotFile: string, takenAt: number, items: RestoredItem[]): void {
  // synchronous=FULL: the restored database is durable once this returns.
  const db = openDatabase(dataDir, { fsync: true });
  try {
    const insertItem = db.prepare(`INSERT INTO items (row, id, name, price, stock, per_user_limit, starts_at, ` +
      `ends_at, mode, pay_window_sec, challenge, fair_window_ms, updated_at, paused, waitlist)
      VALUES (@row, @id, @name, @price, @stock, @perUserLimit, @startsAt, @endsAt, @mode, @payWindowSec, ` +
      '@challenge, @fairWindowMs, @updatedAt, @paused, @waitlist)');
    const insertOrder = db.prepare('INSERT INTO orders ' +
      '(id, item_row, user_id, state, created_at, pay_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (const item of items) {
        insertItem.run({ ...item.definition, row: item.row, challenge: item.definition.challenge ? 1 : 0,
          fairWindowMs: item.definition.fairWindowMs ?? 0, updatedAt: takenAt, paused: item.paused ? 1 : 0,
          waitlist: item.definition.waitlist === true ? 1 : 0 });
        if (item.fileDefinition !== null) setFileDefinition(db, item.definition.id, item.fileDefinition);
        for (const order of item.orders) {
          insertOrder.run(order.id, item.row, order.user, order.state, order.createdAt, order.payBy, takenAt);
        }
      }
      recordAdminAction(db, { at: Date.now(), actor: 'scripts/restore', address: 'local', action: 'restore',
        detail: { snapshot: path.resolve(snapshotFile), takenAt } });
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function removeDatabase(dataDir: string): void {
  for (const file of databaseFiles(dataDir)) fs.rmSync(file, { force: true });
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, (args) => {
    const snapshotFile = requiredString(args, 'snapshot');
    const dataDir = path.resolve(requiredString(args, 'data'));
    checkNewDirectory(dataDir);
    let snapshot: { takenAt: number; items: RestoredItem[] };
    try {
      snapshot = readSnapshot(snapshotFile);
    } catch (error) {
      if (!(error instanceof SnapshotError)) throw error;
      process.stderr.write(`restore: ${snapshotFile}: ${error.message}; nothing written\n`);
      return EXIT_FAILED;
    }
    try {
      writeDatabase(dataDir, snapshotFile, snapshot.takenAt, snapshot.items);
    } catch (error) {
      // The directory held no database before, so what is there now is this run's.
      removeDatabase(dataDir);
      throw error;
    }
    const lines = [`restored ${snapshotFile} (taken ${new Date(snapshot.takenAt).toISOString()}) ` +
      `into ${databaseFile(dataDir)}:`];
    for (const item of snapshot.items) {
      lines.push(`  item "${item.definition.id}" (row ${item.row}): stock ${item.definition.stock}, ` +
        `held ${item.held}, left ${item.left}, ${item.orders.length} orders`);
    }
    const orders = snapshot.items.reduce((sum, item) => sum + item.orders.length, 0);
    lines.push(`${snapshot.items.length} item(s), ${orders} order(s); ` +
      `start the engine with: node engine/start --data ${dataDir}`);
    process.stdout.write(lines.join('\n') + '\n');
    return EXIT_OK;
  });
}
