// Reconciliation of a stopped engine's data directory: SQLite and the
// write-behind log checked against each item's stock, without changing
// either. It replays the unapplied log tail in memory, exactly as start-up's
// catchUpLog would, and then checks the books the engine would load.
//
// Rules (each finding has a stable `check` code; errors make the directory
// inconsistent, warnings and information do not):
//
// Items and orders (after the tail is replayed in memory):
//   oversold         error  an item's units held (orders reserved, paid or
//                           confirmed) exceed its stock: left = stock - held
//                           would be negative, a unit sold twice. The engine
//                           keeps no separate `left`; it derives left from the
//                           orders at load, so "left + held = stock" holds by
//                           construction exactly when held <= stock. Both
//                           numbers are reported per item, from SQLite alone
//                           and after the tail.
//   per_user_limit   error  a user holds more units of an item than its
//                           perUserLimit (two orders of one user past the
//                           limit, whatever their sequences). Gaps in
//                           sequences, and sequences above the count of an
//                           item's orders, are fine: ids are only unique.
//   orphan_order     error  an order whose id's row (id / 2^32) is no item.
//   order_row        error  an order whose item_row column disagrees with its
//                           id, or whose sequence (id mod 2^32) is 0.
//   bad_state        error  an order state outside 1..5 (ORDER_STATE).
//
// The write-behind log, segment by segment in name order (boot, shard,
// segment: the order in which they were written and are applied):
//   corrupt_segment  error  a bad record followed by good ones outside the
//                           last batch (scanSegment refuses it; so would
//                           start-up). Only the leading good records are used.
//   torn_tail        info   bytes after the last good record: one write()
//                           cut short by a crash, never acknowledged, dropped
//                           at start-up.
//   applied_beyond_file error log_applied.records is larger than the file's
//                           good records (start-up would refuse).
//   missing_order    error  a record at an index below log_applied.records
//                           (applied) names an order that SQLite lacks.
//   user_mismatch    error  a record's user differs from the order's user.
//   state_mismatch   error  an order's state in SQLite is not what the last
//                           applied record for it says. Records are applied
//                           in order and one transaction moves rows and the
//                           applied count together, so the two can only
//                           differ when something else changed the row.
//   applied_twice    error  a won record past the applied offset whose order
//                           row is already in SQLite for the same user: the
//                           row is there although log_applied says the record
//                           was not applied, so replaying it would count it
//                           twice (the bookkeeping is lower than the truth).
//   order_id_reused  error  a won record past the applied offset for an order
//                           id that SQLite (or an earlier record) holds for a
//                           different user, or an id won twice in the tail.
//   replay_unknown_order error a paid/cancelled/expired record in the tail
//                           for an order nobody won: start-up would stop.
//   orphan_record    error  a won record whose order id's row is no item.
//   apply_order      error  a segment has applied records while an earlier
//                           segment of the same shard and boot, or of an
//                           earlier boot, still has unapplied ones: the
//                           persister and start-up apply strictly in order.
//   stale_log_applied warning log_applied names a segment file that is gone,
//                           with records > 0: left by a crash between
//                           deleting a fully applied segment and forgetting
//                           it. Harmless (segment names never repeat).
//   unknown_file     info   a file in DATA/log that is not a segment.
//
// Memory: the log's records are decoded one at a time; what is kept is one
// small entry per order the log names, and per item one count per holder.
// Lists of order ids in messages are cut at ORDER_IDS_SHOWN_MAX, findings at
// FINDINGS_PER_CHECK_MAX per check.

import type { Statement } from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../persistence/database';
import { scanSegment } from '../persistence/log-applier';
import { LOG_RECORD_BYTES } from '../persistence/log-constants';
import {
  decodeLeadingRecords, decodeRecord, emptyRecord, holdsUnit, isOrderRecord, ORDER_STATE_NAMES, RECORD_TYPE,
  RECORD_TYPE_NAMES, type LogRecord,
} from '../persistence/log-record';
import { itemRowOf, itemRowSql, orderIdRange, sequenceSql } from '../persistence/order-id';
import { SEGMENT_FILE } from '../persistence/write-behind-log';

/** Order ids named in one message at most; the count is always given whole. */
export const ORDER_IDS_SHOWN_MAX = 20;
/** Users named per item in per_user_limit findings at most. */
const USERS_SHOWN_MAX = 20;
/**
 * Findings kept per check: a log whose bookkeeping is off can make every one
 * of its 1.4 M records a finding, and a report that long helps nobody. The
 * rest are counted in one closing finding.
 */
export const FINDINGS_PER_CHECK_MAX = 100;

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  check: string;
  message: string;
  item?: string;
  orders?: string[];
  user?: number;
  segment?: string;
  record?: number;
}

export interface ItemBalance {
  id: string;
  row: number;
  stock: number;
  perUserLimit: number;
  /** Orders of the item in SQLite. */
  ordersInSqlite: number;
  /** Units held by those orders, SQLite alone. */
  heldInSqlite: number;
  /** Log records of the unapplied tail for this item's orders. */
  tailRecords: number;
  /** Orders the tail adds (won records not yet applied). */
  ordersFromTail: number;
  /** Units held after the tail is replayed: what the engine would load. */
  held: number;
  /** The most units one user holds after the tail is replayed. */
  mostHeldByOneUser: number;
  /** stock - held: what the engine would offer. Negative means oversold. */
  left: number;
}

export interface SegmentSummary {
  name: string;
  validRecords: number;
  /** log_applied.records for it (0 without a row). */
  applied: number;
  /** Records start-up would replay. */
  tail: number;
  tornBytes: number;
}

export interface Reconciliation {
  items: ItemBalance[];
  segments: SegmentSummary[];
  findings: Finding[];
  consistent: boolean;
}

interface ItemRow { row: number; id: string; stock: number; perUserLimit: number }
interface OrderRow { user: number; state: number }
/** An order after the tail, as the engine would load it. */
interface Replayed { user: number; state: number; fromTail: boolean }
interface LastApplied { state: number; segment: string; record: number }

function orderIds(ids: readonly number[]): string[] {
  return ids.slice(0, ORDER_IDS_SHOWN_MAX).map(String);
}

function listed(ids: readonly number[], total = ids.length): string {
  const shown = ids.slice(0, ORDER_IDS_SHOWN_MAX).join(', ');
  return total > ORDER_IDS_SHOWN_MAX ? `${shown} and ${total - ORDER_IDS_SHOWN_MAX} more` : shown;
}

function stateName(state: number): string {
  return ORDER_STATE_NAMES[state] || `state ${state}`;
}

class Reconciler {
  readonly findings: Finding[] = [];
  /** Findings per check past FINDINGS_PER_CHECK_MAX, counted but not kept. */
  private readonly suppressed = new Map<string, { severity: Severity; count: number }>();
  private readonly perCheck = new Map<string, number>();
  private readonly items: ItemRow[];
  private readonly itemByRow: Map<number, ItemRow>;
  private readonly selectOrder: Statement;
  /** SQLite rows of orders the log names, looked up once each. */
  private readonly sqliteRows = new Map<number, OrderRow | null>();
  /** Orders as the tail leaves them (only those the tail touches). */
  private readonly replayed = new Map<number, Replayed>();
  /** Where each order was first won in the tail, for order_id_reused. */
  private readonly tailWonAt = new Map<number, string>();
  private readonly lastApplied = new Map<number, LastApplied>();
  private readonly missingReported = new Set<number>();
  private readonly tailRecordsByRow = new Map<number, number>();
  /** Orders the tail adds, per item row, in the order they are won. */
  private readonly newOrdersByRow = new Map<number, number[]>();

  constructor(private readonly db: Db, private readonly logDir: string) {
    this.items = db.prepare('SELECT row, id, stock, per_user_limit AS perUserLimit FROM items ORDER BY row')
      .all() as ItemRow[];
    this.itemByRow = new Map(this.items.map((item) => [item.row, item]));
    this.selectOrder = db.prepare('SELECT user_id AS user, state FROM orders WHERE id = ?');
  }

  private add(finding: Finding): void {
    const count = (this.perCheck.get(finding.check) ?? 0) + 1;
    this.perCheck.set(finding.check, count);
    if (count <= FINDINGS_PER_CHECK_MAX) this.findings.push(finding);
    else this.suppressed.set(finding.check, { severity: finding.severity, count: count - FINDINGS_PER_CHECK_MAX });
  }

  /** One closing finding per check that had more than FINDINGS_PER_CHECK_MAX. */
  summarizeSuppressed(): void {
    for (const [check, { severity, count }] of this.suppressed) {
      this.findings.push({ severity, check,
        message: `and ${count} more ${check} finding(s) like the ${FINDINGS_PER_CHECK_MAX} above` });
    }
  }

  private itemIdOf(orderId: number): string | undefined {
    return this.itemByRow.get(itemRowOf(orderId))?.id;
  }

  private itemLabel(orderId: number): string {
    const item = this.itemByRow.get(itemRowOf(orderId));
    return item ? `item "${item.id}"` : `item row ${itemRowOf(orderId)} (no such item)`;
  }

  private sqliteRow(orderId: number): OrderRow | null {
    let row = this.sqliteRows.get(orderId);
    if (row === undefined) {
      row = (this.selectOrder.get(orderId) as OrderRow | undefined) ?? null;
      this.sqliteRows.set(orderId, row);
    }
    return row;
  }

  // ---- the write-behind log ----

  checkLog(): SegmentSummary[] {
    const names = fs.existsSync(this.logDir) ? fs.readdirSync(this.logDir).sort() : [];
    for (const name of names.filter((n) => !SEGMENT_FILE.test(n))) {
      this.add({ severity: 'info', check: 'unknown_file',
        message: `log: ${name} is not a log segment; start-up ignores it`, segment: name });
    }
    const appliedRows = new Map((this.db.prepare('SELECT segment, records FROM log_applied')
      .all() as { segment: string; records: number }[]).map((r) => [r.segment, r.records]));
    const segments: SegmentSummary[] = [];
    const pending: string[] = [];
    for (const name of names.filter((n) => SEGMENT_FILE.test(n))) {
      const summary = this.checkSegment(name, appliedRows.get(name) ?? 0);
      segments.push(summary);
      if (summary.applied > 0) this.checkApplyOrder(name, pending);
      if (summary.tail > 0) pending.push(name);
      appliedRows.delete(name);
    }
    for (const [segment, records] of appliedRows) {
      if (records === 0) continue;
      this.add({ severity: 'warning', check: 'stale_log_applied', segment,
        message: `log_applied names segment ${segment} (${records} records applied) but the file is gone: ` +
          'a crash between deleting an applied segment and forgetting it; harmless, names never repeat' });
    }
    this.checkLastApplied();
    return segments;
  }

  /** A segment with applied records must not follow one of its shard (or an older boot) with unapplied ones. */
  private checkApplyOrder(name: string, pending: readonly string[]): void {
    const [, boot, shard] = SEGMENT_FILE.exec(name)!;
    for (const earlier of pending) {
      const [, earlierBoot, earlierShard] = SEGMENT_FILE.exec(earlier)!;
      if (earlierBoot! < boot! || (earlierBoot === boot && earlierShard === shard)) {
        this.add({ severity: 'error', check: 'apply_order', segment: name,
          message: `log ${name}: has applied records although the earlier segment ${earlier} ` +
            'still has unapplied ones; segments are applied strictly in order' });
      }
    }
  }

  private checkSegment(name: string, applied: number): SegmentSummary {
    const bytes = fs.readFileSync(path.join(this.logDir, name));
    let validRecords: number;
    let corrupt = false;
    try {
      validRecords = scanSegment(bytes).validRecords;
    } catch (error) {
      corrupt = true;
      validRecords = decodeLeadingRecords(bytes);
      this.add({ severity: 'error', check: 'corrupt_segment', segment: name, record: validRecords,
        message: `log ${name}: ${(error as Error).message}; start-up would refuse it. ` +
          `Only its first ${validRecords} records are checked` });
    }
    const tornBytes = bytes.length - validRecords * LOG_RECORD_BYTES;
    if (tornBytes > 0 && !corrupt) {
      this.add({ severity: 'info', check: 'torn_tail', segment: name, record: validRecords,
        message: `log ${name}: ${tornBytes} bytes after record ${validRecords} ` +
          'are a torn last write (never acknowledged); start-up drops them' });
    }
    if (applied > validRecords) {
      this.add({ severity: 'error', check: 'applied_beyond_file', segment: name, record: validRecords,
        message: `log ${name}: log_applied says ${applied} records are applied but the file holds only ` +
          `${validRecords} good records; start-up would refuse` });
    }
    const appliedInFile = Math.min(applied, validRecords);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const record = emptyRecord();
    for (let index = 0; index < validRecords; index++) {
      decodeRecord(view, bytes, index * LOG_RECORD_BYTES, record);
      // Fair-window entries and waitlist places make no order (log-record.ts): nothing here to check them against.
      if (!isOrderRecord(record.type)) continue;
      if (index < appliedInFile) this.checkApplied(record, name, index, applied);
      else this.replay(record, name, index, applied);
    }
    return { name, validRecords, applied, tail: validRecords - appliedInFile, tornBytes };
  }

  /** A record SQLite already holds: its order must be there, for its user. */
  private checkApplied(record: LogRecord, segment: string, index: number, applied: number): void {
    const orderId = record.orderId;
    const row = this.sqliteRow(orderId);
    if (row === null) {
      if (this.missingReported.has(orderId)) return;
      this.missingReported.add(orderId);
      this.add({ severity: 'error', check: 'missing_order', item: this.itemIdOf(orderId), orders: [String(orderId)],
        user: record.userId, segment, record: index,
        message: `order ${orderId} (${this.itemLabel(orderId)}, user ${record.userId}): ` +
          `its ${RECORD_TYPE_NAMES[record.type]} record ${segment}#${index} is applied (log_applied = ${applied}) ` +
          'but the order is not in SQLite' });
      return;
    }
    if (row.user !== record.userId) {
      this.add({ severity: 'error', check: 'user_mismatch', item: this.itemIdOf(orderId), orders: [String(orderId)],
        segment, record: index,
        message: `order ${orderId} (${this.itemLabel(orderId)}): SQLite says user ${row.user} ` +
          `but its applied ${RECORD_TYPE_NAMES[record.type]} record ${segment}#${index} says user ${record.userId}` });
    }
    this.lastApplied.set(orderId, { state: record.state, segment, record: index });
  }

  /** SQLite's state of every order the applied log names must be what its last applied record says. */
  private checkLastApplied(): void {
    for (const [orderId, last] of this.lastApplied) {
      const row = this.sqliteRow(orderId)!;
      if (row.state === last.state) continue;
      this.add({ severity: 'error', check: 'state_mismatch', item: this.itemIdOf(orderId), orders: [String(orderId)],
        user: row.user, segment: last.segment, record: last.record,
        message: `order ${orderId} (${this.itemLabel(orderId)}, user ${row.user}): ` +
          `SQLite says "${stateName(row.state)}" but the last applied log record for it, ` +
          `${last.segment}#${last.record}, says "${stateName(last.state)}"` });
    }
  }

  /** A record start-up would apply: replayed in memory exactly as LogApplier would. */
  private replay(record: LogRecord, segment: string, index: number, applied: number): void {
    const orderId = record.orderId;
    const row = itemRowOf(orderId);
    this.tailRecordsByRow.set(row, (this.tailRecordsByRow.get(row) ?? 0) + 1);
    const at = `${segment}#${index}`;
    const sqlite = this.sqliteRow(orderId);
    const current: Replayed | null = this.replayed.get(orderId)
      ?? (sqlite ? { user: sqlite.user, state: sqlite.state, fromTail: false } : null);
    if (record.type === RECORD_TYPE.won) {
      if (current === null) {
        if (!this.itemByRow.has(row)) {
          this.add({ severity: 'error', check: 'orphan_record', orders: [String(orderId)], segment, record: index,
            message: `log ${at}: won record for order ${orderId}, whose row ${row} is no item` });
        }
        this.replayed.set(orderId, { user: record.userId, state: record.state, fromTail: true });
        this.tailWonAt.set(orderId, at);
        const list = this.newOrdersByRow.get(row) ?? [];
        list.push(orderId);
        this.newOrdersByRow.set(row, list);
      } else if (this.tailWonAt.has(orderId)) {
        this.add({ severity: 'error', check: 'order_id_reused', item: this.itemIdOf(orderId), orders: [String(orderId)],
          segment, record: index,
          message: `order ${orderId} (${this.itemLabel(orderId)}) is won twice in the unapplied log: ` +
            `at ${this.tailWonAt.get(orderId)} and at ${at} (user ${record.userId})` });
      } else if (current.user === record.userId) {
        this.add({ severity: 'error', check: 'applied_twice', item: this.itemIdOf(orderId), orders: [String(orderId)],
          user: record.userId, segment, record: index,
          message: `order ${orderId} (${this.itemLabel(orderId)}, user ${record.userId}): ` +
            `its won record ${at} is past the applied offset (log_applied = ${applied}) ` +
            'but the order is already in SQLite: the record would be applied twice' });
      } else {
        this.add({ severity: 'error', check: 'order_id_reused', item: this.itemIdOf(orderId), orders: [String(orderId)],
          segment, record: index,
          message: `order ${orderId} (${this.itemLabel(orderId)}) is in SQLite for user ${current.user} ` +
            `but the unapplied won record ${at} gives it to user ${record.userId}` });
      }
      // LogApplier inserts with ON CONFLICT DO NOTHING: a won record never changes an existing row.
      return;
    }
    if (current === null) {
      this.add({ severity: 'error', check: 'replay_unknown_order', item: this.itemIdOf(orderId),
        orders: [String(orderId)], segment, record: index,
        message: `log ${at}: ${RECORD_TYPE_NAMES[record.type]} record for order ${orderId} ` +
          `(${this.itemLabel(orderId)}), which is neither in SQLite nor won earlier in the log; ` +
          'start-up would stop here' });
      return;
    }
    if (current.user !== record.userId) {
      this.add({ severity: 'error', check: 'user_mismatch', item: this.itemIdOf(orderId), orders: [String(orderId)],
        segment, record: index,
        message: `order ${orderId} (${this.itemLabel(orderId)}) belongs to user ${current.user} ` +
          `but its unapplied ${RECORD_TYPE_NAMES[record.type]} record ${at} says user ${record.userId}` });
    }
    this.replayed.set(orderId, { user: current.user, state: record.state, fromTail: current.fromTail });
  }

  // ---- SQLite's orders ----

  checkOrderRows(): void {
    const orphans = this.db.prepare(`SELECT id FROM orders
      WHERE ${itemRowSql('id')} NOT IN (SELECT row FROM items) ORDER BY id`)
      .raw().all() as [number][];
    const byRow = new Map<number, number[]>();
    for (const [id] of orphans) {
      const list = byRow.get(itemRowOf(id)) ?? [];
      list.push(id);
      byRow.set(itemRowOf(id), list);
    }
    for (const [row, ids] of byRow) {
      this.add({ severity: 'error', check: 'orphan_order', orders: orderIds(ids),
        message: `${ids.length} order(s) in SQLite belong to item row ${row}, which is no item: ${listed(ids)}` });
    }
    const misfiled = this.db.prepare(`SELECT id, item_row FROM orders
      WHERE item_row != ${itemRowSql('id')} OR ${sequenceSql('id')} = 0 ORDER BY id`).raw().all() as [number, number][];
    if (misfiled.length > 0) {
      this.add({ severity: 'error', check: 'order_row', orders: orderIds(misfiled.map(([id]) => id)),
        message: `${misfiled.length} order(s) have an item_row that disagrees with their id ` +
          '(id = row * 2^32 + sequence, sequence >= 1): ' +
          `${misfiled.slice(0, ORDER_IDS_SHOWN_MAX).map(([id, row]) => `${id} (item_row ${row})`).join(', ')}` });
    }
    const badStates = this.db.prepare('SELECT id, state FROM orders WHERE state NOT IN (1, 2, 3, 4, 5) ORDER BY id')
      .raw().all() as [number, number][];
    if (badStates.length > 0) {
      this.add({ severity: 'error', check: 'bad_state', orders: orderIds(badStates.map(([id]) => id)),
        message: `${badStates.length} order(s) have a state outside 1..5: ` +
          `${badStates.slice(0, ORDER_IDS_SHOWN_MAX).map(([id, state]) => `${id} (state ${state})`).join(', ')}` });
    }
  }

  // ---- items: stock and holders ----

  /**
   * The item's orders as the engine would load them, by id: SQLite's rows
   * with the tail's changes, merged with the orders the tail adds.
   */
  private *ordersOf(item: ItemRow): Generator<{
    id: number; user: number; state: number; inSqlite: boolean; sqliteState: number;
  }> {
    const { first, last } = orderIdRange(item.row);
    const added = [...(this.newOrdersByRow.get(item.row) ?? [])].sort((a, b) => a - b);
    let next = 0;
    const rows = this.db.prepare('SELECT id, user_id, state FROM orders WHERE id BETWEEN ? AND ? ORDER BY id')
      .raw().iterate(first, last) as IterableIterator<[number, number, number]>;
    for (const [id, user, state] of rows) {
      while (next < added.length && added[next]! < id) yield this.added(added[next++]!);
      const change = this.replayed.get(id);
      yield { id, user, state: change && !change.fromTail ? change.state : state, inSqlite: true, sqliteState: state };
    }
    while (next < added.length) yield this.added(added[next++]!);
  }

  private added(id: number): { id: number; user: number; state: number; inSqlite: boolean; sqliteState: number } {
    const order = this.replayed.get(id)!;
    return { id, user: order.user, state: order.state, inSqlite: false, sqliteState: 0 };
  }

  checkItems(): ItemBalance[] {
    return this.items.map((item) => this.checkItem(item));
  }

  private checkItem(item: ItemRow): ItemBalance {
    const balance: ItemBalance = {
      id: item.id, row: item.row, stock: item.stock, perUserLimit: item.perUserLimit,
      ordersInSqlite: 0, heldInSqlite: 0,
      tailRecords: this.tailRecordsByRow.get(item.row) ?? 0, ordersFromTail: 0, held: 0, mostHeldByOneUser: 0, left: 0,
    };
    const unitsByUser = new Map<number, number>();
    // The latest holding orders, for naming the units past the stock.
    const latest: number[] = [];
    for (const order of this.ordersOf(item)) {
      if (order.inSqlite) {
        balance.ordersInSqlite++;
        if (holdsUnit(order.sqliteState)) balance.heldInSqlite++;
      } else balance.ordersFromTail++;
      if (!holdsUnit(order.state)) continue;
      balance.held++;
      unitsByUser.set(order.user, (unitsByUser.get(order.user) ?? 0) + 1);
      latest.push(order.id);
      if (latest.length > ORDER_IDS_SHOWN_MAX) latest.shift();
    }
    balance.left = item.stock - balance.held;
    for (const units of unitsByUser.values()) balance.mostHeldByOneUser = Math.max(balance.mostHeldByOneUser, units);
    if (balance.left < 0) {
      const extra = -balance.left;
      const named = latest.slice(-Math.min(extra, ORDER_IDS_SHOWN_MAX));
      this.add({ severity: 'error', check: 'oversold', item: item.id, orders: named.map(String),
        message: `item "${item.id}" (row ${item.row}): ${balance.held} units held but stock is ${item.stock} ` +
          `(left would be ${balance.left}): ${extra} unit(s) sold twice; ` +
          `the latest holding order(s): ${named.join(', ')}` });
    }
    const over = [...unitsByUser].filter(([, units]) => units > item.perUserLimit);
    if (over.length > 0) this.reportOverLimit(item, over);
    return balance;
  }

  private reportOverLimit(item: ItemRow, over: [number, number][]): void {
    const shown = new Map(over.slice(0, USERS_SHOWN_MAX));
    const ordersByUser = new Map<number, number[]>();
    for (const order of this.ordersOf(item)) {
      if (!shown.has(order.user) || !holdsUnit(order.state)) continue;
      const list = ordersByUser.get(order.user) ?? [];
      list.push(order.id);
      ordersByUser.set(order.user, list);
    }
    for (const [user, units] of shown) {
      const ids = ordersByUser.get(user) ?? [];
      this.add({ severity: 'error', check: 'per_user_limit', item: item.id, user, orders: orderIds(ids),
        message: `item "${item.id}": user ${user} holds ${units} units but perUserLimit is ${item.perUserLimit}: ` +
          `orders ${listed(ids)}` });
    }
    if (over.length > USERS_SHOWN_MAX) {
      this.add({ severity: 'error', check: 'per_user_limit', item: item.id,
        message: `item "${item.id}": ${over.length - USERS_SHOWN_MAX} more users ` +
          `hold more than perUserLimit (${item.perUserLimit})` });
    }
  }
}

/** Checks a data directory's database (opened read-only by the caller) and log directory. */
export function reconcile(db: Db, logDir: string): Reconciliation {
  const reconciler = new Reconciler(db, logDir);
  const segments = reconciler.checkLog();
  reconciler.checkOrderRows();
  const items = reconciler.checkItems();
  reconciler.summarizeSuppressed();
  const findings = reconciler.findings;
  return { items, segments, findings, consistent: !findings.some((f) => f.severity === 'error') };
}
