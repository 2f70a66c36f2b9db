// Settlement: once an item has ended and none of its reservations is still
// open (each paid, expired or cancelled, so its numbers can no longer
// change), the engine writes the item's final report and its winners for
// the order system into <data>/settlement/, and records that in SQLite so
// each round of an item is settled exactly once. A new round (restock and
// new times after the end) settles again under its own endsAt.

import fs from 'node:fs';
import type pino from 'pino';
import { settlementDirectory, settlementFiles } from '../persistence/data-directory';
import type { Db } from '../persistence/database';
import { writeTextDurably } from '../persistence/durable-file';
import { ORDER_STATE, ORDER_STATE_NAMES } from '../persistence/log-record';
import { orderIdRange } from '../persistence/order-id';
import type { Persister } from '../persistence/persister';
import type { ItemCatalog } from './item-catalog';
import type { ItemCounters } from './item-counters';

/** How often the engine looks for items to settle. */
export const SETTLEMENT_CHECK_MS = 1000;

export interface SettlementReport {
  item: string;
  round: { startsAt: number; endsAt: number };
  settledAt: number;
  stock: number;
  sold: number;
  paid: number;
  confirmed: number;
  expired: number;
  cancelled: number;
  unsold: number;
  revenue: number;
  winnersFile: string;
}

export class Settlement {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly dataDir: string, private readonly db: Db, private readonly catalog: ItemCatalog,
    private readonly counts: ItemCounters, private readonly persister: Persister, private readonly log: pino.Logger) {}

  start(): void {
    this.timer = setInterval(() => void this.check(Date.now()), SETTLEMENT_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Items that ended, have no open reservation, and are not settled for this round. */
  due(nowMs: number): number[] {
    const settled = this.db.prepare('SELECT 1 FROM settlements WHERE item_row = ? AND ends_at = ?');
    const due: number[] = [];
    this.catalog.existingIndexes().forEach((index) => {
      const item = this.catalog.items[index]!;
      if (nowMs < item.endsAt) return;
      if (this.counts.openReservations(index) > 0) return;
      if (settled.get(item.row, item.endsAt) === undefined) due.push(index);
    });
    return due;
  }

  async check(nowMs: number): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const due = this.due(nowMs);
      if (due.length === 0) return;
      // SQLite must hold every state change the shards made before it is read.
      const positions = this.persister.writtenPositions();
      while (!this.persister.hasApplied(positions)) await new Promise((resolve) => setTimeout(resolve, 5));
      for (const index of due) this.settle(index, Date.now());
    } catch (error) {
      this.log.error({ err: error }, 'settlement failed; it will be tried again');
    } finally {
      this.busy = false;
    }
  }

  private settle(index: number, nowMs: number): SettlementReport {
    const item = this.catalog.items[index]!;
    fs.mkdirSync(settlementDirectory(this.dataDir), { recursive: true });
    const { first, last } = orderIdRange(item.row);
    const rows = this.db.prepare('SELECT id, user_id, state, created_at, pay_by FROM orders ' +
      'WHERE id BETWEEN ? AND ? AND created_at >= ? AND created_at < ? ORDER BY id')
      .raw().all(first, last, item.startsAt, item.endsAt) as [number, number, number, number, number | null][];
    const count = (state: number): number => rows.filter((r) => r[2] === state).length;
    const files = settlementFiles(this.dataDir, item.id, item.endsAt);
    const winnersFile = files.winners;
    const winners = rows.filter((r) => r[2] === ORDER_STATE.paid || r[2] === ORDER_STATE.confirmed)
      .map(([id, user, state, createdAt]) => JSON.stringify({
        order: String(id), item: item.id, user, state: ORDER_STATE_NAMES[state], createdAt, price: item.price,
      }))
      .join('\n');
    writeTextDurably(winnersFile, winners === '' ? '' : `${winners}\n`);
    const sold = count(ORDER_STATE.paid) + count(ORDER_STATE.confirmed);
    const report: SettlementReport = {
      item: item.id, round: { startsAt: item.startsAt, endsAt: item.endsAt }, settledAt: nowMs, stock: item.stock, sold,
      paid: count(ORDER_STATE.paid), confirmed: count(ORDER_STATE.confirmed), expired: count(ORDER_STATE.expired),
      cancelled: count(ORDER_STATE.cancelled), unsold: Atomics.load(this.catalog.left, index),
      revenue: sold * item.price, winnersFile,
    };
    writeTextDurably(files.report, `${JSON.stringify(report, null, 2)}\n`);
    this.db.prepare('INSERT INTO settlements (item_row, ends_at, settled_at, report) VALUES (?, ?, ?, ?)')
      .run(item.row, item.endsAt, nowMs, JSON.stringify(report));
    this.log.info({ settlement: report }, `item ${item.id} settled`);
    return report;
  }
}
