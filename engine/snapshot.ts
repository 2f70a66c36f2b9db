// Snapshots of the live state (SIGUSR2, POST /admin/snapshot): each shard
// copies its books between two decisions, which is a consistent cut because
// shards share nothing and no decision spans two shards. The copy is the
// pause, so it is a handful of typed-array memcpys per item and nothing per
// order. Formatting and writing the file, which takes seconds for millions of
// orders, happen on a snapshot-writer thread (snapshot-writer.ts) while sales
// and the HTTP thread go on.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { snapshotDirectory, snapshotFileName, snapshotTakenAt } from '../persistence/data-directory';
import type { StoredItem } from '../persistence/database';
import { IN_PROGRESS_SUFFIX, writeFileDurably } from '../persistence/durable-file';
import { holdsUnit, ORDER_STATE_NAMES } from '../persistence/log-record';
import { orderIdOf } from '../persistence/order-id';
import { Worker } from 'node:worker_threads';
import type { Shard } from './shard';

/** One item's books as copied at the cut: order arrays by sequence - 1, and [userId, units] per holder. */
export interface ItemSnapshot {
  row: number;
  globalIndex: number;
  stock: number;
  left: number;
  orderUser: Float64Array;
  orderState: Uint8Array;
  orderCreatedAt: Float64Array;
  orderPayBy: Float64Array;
  holders: Float64Array;
}

export interface ShardSnapshot {
  shard: number;
  pausedMs: number;
  log: { segment: string; records: number };
  items: ItemSnapshot[];
}

/** What the writer thread needs: the copies, plus each item's JSON head built on the main thread. */
export interface SnapshotJob {
  file: string;
  takenAt: number;
  shards: (Omit<ShardSnapshot, 'items'> & { items: { head: string; books: ItemSnapshot }[] })[];
}

export function takeShardSnapshot(shard: Shard): ShardSnapshot {
  const started = performance.now();
  shard.log.flush();
  const items = shard.books.map((book): ItemSnapshot => {
    // Sequences start at 1; slot 0 of each order array is unused.
    const end = book.orderCount + 1;
    return {
      row: book.row, globalIndex: book.globalIndex, stock: book.stock, left: book.left,
      orderUser: book.orderUser.slice(1, end), orderState: book.orderState.slice(1, end),
      orderCreatedAt: book.orderCreatedAt.slice(1, end), orderPayBy: book.orderPayBy.slice(1, end),
      holders: book.holdings.holderPairs(),
    };
  });
  return { shard: shard.index, pausedMs: performance.now() - started, log: shard.log.position, items };
}

/** The buffers a shard snapshot can hand to another thread without copying. */
export function snapshotBuffers(snapshot: ShardSnapshot): ArrayBuffer[] {
  return snapshot.items.flatMap((item) =>
    [item.orderUser, item.orderState, item.orderCreatedAt, item.orderPayBy, item.holders]
      .map((array) => array.buffer as ArrayBuffer));
}

/**
 * Builds the writer's job on the main thread: the file name and each item's
 * definition (small). `deleted[i]` is 1 for an item an admin deleted since
 * start-up: it is left out. `fileDefinitionOf` gives the definition a sale
 * file last set for an item (or null), so that a restored directory started
 * with the same sale file leaves the items as the snapshot had them.
 */
export function snapshotJob(dataDir: string, takenAt: number, shards: ShardSnapshot[], items: readonly StoredItem[],
  deleted: Uint8Array, fileDefinitionOf: (id: string) => string | null): SnapshotJob {
  const dir = snapshotDirectory(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, snapshotFileName(takenAt));
  return {
    file, takenAt,
    shards: shards.map((s) => ({
      shard: s.shard, pausedMs: s.pausedMs, log: s.log,
      items: s.items.filter((books) => deleted[books.globalIndex] !== 1).map((books) => {
        // The item's whole definition travels with it, so a snapshot alone can rebuild a database.
        const { row: _row, ...definition } = items[books.globalIndex]!;
        const head = `{"id":${JSON.stringify(definition.id)},"row":${books.row},` +
          `"definition":${JSON.stringify(definition)},` +
          `"fileDefinition":${JSON.stringify(fileDefinitionOf(definition.id))},` +
          `"stock":${books.stock},"left":${books.left},`;
        return { head, books };
      }),
    })),
  };
}

/** Bytes gathered before each write(): big enough for few syscalls, small enough to keep the writer's memory flat. */
const WRITE_CHUNK_CHARS = 1 << 20;

/**
 * Writes the job's file (JSON, via <file>.tmp, fsync and rename) and returns
 * its path. Runs on the writer thread; streams in chunks, so its memory does
 * not grow with the number of orders.
 */
export function writeSnapshotFile(job: SnapshotJob): string {
  writeFileDurably(job.file, (fd) => {
    let chunk = '';
    const put = (text: string): void => {
      chunk += text;
      if (chunk.length >= WRITE_CHUNK_CHARS) {
        fs.writeSync(fd, chunk);
        chunk = '';
      }
    };
    put(`{"takenAt":${job.takenAt},"shards":[`);
    job.shards.forEach((s, i) => {
      put(`${i ? ',' : ''}{"shard":${s.shard},"pausedMs":${s.pausedMs.toFixed(3)},` +
        `"log":${JSON.stringify(s.log)},"items":[`);
      s.items.forEach(({ head, books }, j) => {
        put(`${j ? ',' : ''}${head}"orders":[`);
        putItemBooks(books, put);
        put(']}');
      });
      put(']}');
    });
    put(']}\n');
    fs.writeSync(fd, chunk);
  });
  return job.file;
}

/** An item's orders and holdings as JSON arrays, after asserting that the cut balances. */
function putItemBooks(books: ItemSnapshot, put: (text: string) => void): void {
  const count = books.orderUser.length;
  assert.ok(books.orderState.length === count);
  assert.ok(books.orderCreatedAt.length === count);
  assert.ok(books.orderPayBy.length === count);
  // The cut must balance, or the file would restore a wrong sale: refuse to write it.
  let held = 0;
  for (let at = 0; at < count; at++) if (holdsUnit(books.orderState[at]!)) held++;
  let units = 0;
  for (let at = 1; at < books.holders.length; at += 2) units += books.holders[at]!;
  const balance = `left ${books.left} + held ${held} vs stock ${books.stock}, holdings ${units}`;
  assert.ok(books.left + held === books.stock, `snapshot of item row ${books.row} does not balance: ${balance}`);
  assert.ok(units === held, `snapshot of item row ${books.row} does not balance: ${balance}`);
  for (let at = 0; at < count; at++) {
    const payBy = books.orderPayBy[at]!;
    const state = ORDER_STATE_NAMES[books.orderState[at]!];
    put(`${at ? ',' : ''}[${orderIdOf(books.row, at + 1)},${books.orderUser[at]},"${state}",` +
      `${books.orderCreatedAt[at]},${payBy === 0 ? 'null' : payBy}]`);
  }
  put('],"holdings":[');
  for (let at = 0; at < books.holders.length; at += 2) {
    put(`${at ? ',' : ''}[${books.holders[at]},${books.holders[at + 1]}]`);
  }
}

/**
 * Runs writeSnapshotFile on a snapshot-writer thread of its own, handing it
 * `transfer` (the copies) without copying.
 */
export function writeSnapshotInThread(job: SnapshotJob, transfer: ArrayBuffer[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const writer = new Worker(path.join(__dirname, 'snapshot-writer.js'),
      { workerData: job, transferList: transfer, name: 'snapshot-writer' });
    let answered = false;
    writer.once('message', (answer: { path?: string; error?: string }) => {
      answered = true;
      if (answer.path !== undefined) resolve(answer.path);
      else reject(new Error(`snapshot writer: ${answer.error}`));
    });
    writer.once('error', reject);
    writer.once('exit', (code) => {
      if (!answered) reject(new Error(`snapshot writer exited with code ${code} before answering`));
    });
  });
}

/**
 * Removes all but the newest `keep` snapshot files (0 keeps all) and any
 * `.tmp` left by a writer that died (kill -9 mid-write). Call it only when
 * no writer runs. Snapshots are as large as the sale, so without a bound
 * they would fill the disk the write-behind log needs. `justWritten` (a
 * name) counts as the newest. Returns the names removed.
 */
export function pruneSnapshots(dataDir: string, keep: number, justWritten: string | null = null): string[] {
  assert.ok(Number.isInteger(keep) && keep >= 0);
  const dir = snapshotDirectory(dataDir);
  const names = fs.readdirSync(dir);
  // The file just written stays even if a clock set back made its name sort first.
  const others = names.filter((name) => !Number.isNaN(snapshotTakenAt(name)) && name !== justWritten).sort();
  const room = keep === 0 ? Infinity : keep - (justWritten === null ? 0 : 1);
  const stale = names.filter((name) => name.endsWith(IN_PROGRESS_SUFFIX)
    && !Number.isNaN(snapshotTakenAt(name.slice(0, -IN_PROGRESS_SUFFIX.length))));
  const removed = [...others.slice(0, Math.max(0, others.length - room)), ...stale];
  for (const name of removed) fs.rmSync(path.join(dir, name), { force: true });
  return removed;
}
