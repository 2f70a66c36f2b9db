// Builds a shard from the database: its items' books and its write-behind
// log. The same code runs on the main thread (--workers 0) and in each shard
// worker, which opens its own read-only connection (shared-nothing).

import type { Db, StoredItem } from '../persistence/database';
import { WriteBehindLog } from '../persistence/write-behind-log';
import { loadItemBook } from './item-book';
import { Shard } from './shard';

export interface ShardSetup {
  index: number;
  logDir: string;
  bootId: number;
  fsync: boolean;
  /** The shard's items, in local index order, with their global indexes. */
  items: { item: StoredItem; globalIndex: number }[];
  left: SharedArrayBuffer;
  progress: SharedArrayBuffer;
  /** Per-item counters of all shards (COUNTER_FIELDS per global item index). */
  counters: SharedArrayBuffer;
  /** Item settings (item-book.ts SETTING), written by the HTTP thread. */
  settings: SharedArrayBuffer;
}

export function loadShard(setup: ShardSetup, db: Db): Shard {
  const settings = new Float64Array(setup.settings);
  const books = setup.items.map(({ item, globalIndex }) => loadItemBook(db, item, globalIndex, settings));
  const log = new WriteBehindLog(setup.logDir, setup.bootId, setup.index, setup.fsync, new Int32Array(setup.progress));
  return new Shard(setup.index, books, log, new Int32Array(setup.left), new Float64Array(setup.counters));
}
