// Builds a shard from the database: its items' books and its write-behind
// log. The same code runs on the main thread (--workers 0) and in each shard
// worker, which opens its own read-only connection (shared-nothing).

import type { Db, StoredItem } from '../persistence/database';
import { WriteBehindLog } from '../persistence/write-behind-log';
import { loadItemBook } from './item-book';
import { Shard, type FairSetup } from './shard';

export interface ShardSetup {
  index: number;
  logDir: string;
  bootId: number;
  fsync: boolean;
  /** The shard's items, in local index order, with their global indexes. */
  items: { item: StoredItem; globalIndex: number }[];
  /** Views from shared-state.ts, which says what each holds. */
  left: Int32Array;
  progress: Int32Array;
  counters: Float64Array;
  settings: Float64Array;
  /** Absent in a shard made for a benchmark, which then publishes to a private array. */
  waitlistServed?: Int32Array;
  /** The key of the fair windows' seeds and where their draws are published (shard.ts FairSetup). */
  fair: FairSetup;
}

export function loadShard(setup: ShardSetup, db: Db): Shard {
  const books = setup.items.map(({ item, globalIndex }) => loadItemBook(db, item, globalIndex, setup.settings));
  const log = new WriteBehindLog(setup.logDir, setup.bootId, setup.index, setup.fsync, setup.progress);
  return new Shard(setup.index, books, log, setup.left, setup.counters, setup.fair, setup.waitlistServed);
}
