// Snapshots of the live state (SIGUSR2): each shard copies its books between
// two decisions, which is a consistent cut because shards share nothing and
// no decision spans two shards. The copy is the pause; writing the file
// happens after sales resume.

import fs from 'node:fs';
import path from 'node:path';
import { ORDER_STATE_NAMES } from '../persistence/log-record';
import type { StoredItem } from '../persistence/database';
import type { Shard } from './shard';

export interface ItemSnapshot {
  row: number;
  globalIndex: number;
  stock: number;
  left: number;
  /** [orderId, userId, state, createdAt, payBy] per order. */
  orders: Float64Array;
  /** [userId, units] per holder. */
  holdings: Float64Array;
}

export interface ShardSnapshot {
  shard: number;
  pausedMs: number;
  log: { segment: string; records: number };
  items: ItemSnapshot[];
}

export function takeShardSnapshot(shard: Shard): ShardSnapshot {
  const started = performance.now();
  shard.log.flush();
  const items = shard.books.map((book): ItemSnapshot => {
    const orders = new Float64Array(book.orderCount * 5);
    for (let sequence = 1; sequence <= book.orderCount; sequence++) {
      const at = (sequence - 1) * 5;
      orders[at] = book.orderId(sequence);
      orders[at + 1] = book.orderUser[sequence]!;
      orders[at + 2] = book.orderState[sequence]!;
      orders[at + 3] = book.orderCreatedAt[sequence]!;
      orders[at + 4] = book.orderPayBy[sequence]!;
    }
    const holders: number[] = [];
    book.holdings.forEach((userId, units) => holders.push(userId, units));
    return { row: book.row, globalIndex: book.globalIndex, stock: book.stock, left: book.left, orders, holdings: Float64Array.from(holders) };
  });
  return { shard: shard.index, pausedMs: performance.now() - started, log: shard.log.position, items };
}

/** Writes the snapshot as JSON under <dataDir>/snapshots and returns its path. */
/**
 * `deleted[i]` is 1 for an item an admin deleted since start-up: it is left
 * out. `fileDefinitionOf` gives the definition a sale file last set for an
 * item (or null), so that a restored directory started with the same sale
 * file leaves the items as the snapshot had them.
 */
export function writeSnapshot(dataDir: string, takenAt: number, shards: ShardSnapshot[], items: readonly StoredItem[], deleted: Uint8Array,
  fileDefinitionOf: (id: string) => string | null): string {
  const dir = path.join(dataDir, 'snapshots');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `snapshot-${new Date(takenAt).toISOString().replace(/[:.]/g, '-')}.json`);
  const fd = fs.openSync(file + '.tmp', 'w');
  try {
    fs.writeSync(fd, `{"takenAt":${takenAt},"shards":[`);
    shards.forEach((s, i) => {
      fs.writeSync(fd, `${i ? ',' : ''}{"shard":${s.shard},"pausedMs":${s.pausedMs.toFixed(3)},"log":${JSON.stringify(s.log)},"items":[`);
      s.items.filter((item) => deleted[item.globalIndex] !== 1).forEach((item, j) => {
        const orders: string[] = [];
        for (let at = 0; at < item.orders.length; at += 5) {
          const payBy = item.orders[at + 4]!;
          orders.push(`[${item.orders[at]},${item.orders[at + 1]},"${ORDER_STATE_NAMES[item.orders[at + 2]!]}",${item.orders[at + 3]},${payBy === 0 ? 'null' : payBy}]`);
        }
        const holdings: string[] = [];
        for (let at = 0; at < item.holdings.length; at += 2) holdings.push(`[${item.holdings[at]},${item.holdings[at + 1]}]`);
        // The item's whole definition travels with it, so a snapshot alone can rebuild a database.
        const { row: _row, ...definition } = items[item.globalIndex]!;
        fs.writeSync(fd, `${j ? ',' : ''}{"id":${JSON.stringify(definition.id)},"row":${item.row},"definition":${JSON.stringify(definition)},` +
          `"fileDefinition":${JSON.stringify(fileDefinitionOf(definition.id))},"stock":${item.stock},"left":${item.left},` +
          `"orders":[${orders.join(',')}],"holdings":[${holdings.join(',')}]}`);
      });
      fs.writeSync(fd, ']}');
    });
    fs.writeSync(fd, ']}\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(file + '.tmp', file);
  return file;
}
