// A worker thread standing for an HTTP thread in test/unit/catalog-changes.test.ts:
// it keeps its own catalog and ban list, applies each change it is sent
// the way http-thread.ts does (applyReplicated), and answers a 'state'
// message with what its copy now says.

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BanList } from '../../engine/ban-list';
import { applyReplicated, type CatalogChange } from '../../engine/catalog-changes';
import { ITEMS_MAX } from '../../engine/constants';
import { SETTING_FIELDS } from '../../engine/item-book';
import { ItemCatalog } from '../../engine/item-catalog';
import type { StoredItem } from '../../persistence/database';

export interface ReplicaData {
  items: StoredItem[];
  acks: Int32Array;
}

/** What the replica's copy says, as the test compares it with the main thread's. */
export interface ReplicaState {
  ids: string[];
  paused: number[];
  stocks: number[];
  startsAt: number[];
  users: number[];
  ranges: string[];
}

export function stateOf(catalog: ItemCatalog, bans: BanList): ReplicaState {
  const existing = catalog.existingIndexes();
  return {
    ids: existing.map((i) => catalog.items[i]!.id), paused: existing.map((i) => catalog.paused[i]!),
    stocks: existing.map((i) => catalog.items[i]!.stock), startsAt: existing.map((i) => catalog.items[i]!.startsAt),
    users: [...bans.users].sort(), ranges: bans.ranges.map((r) => r.text).sort(),
  };
}

function main(): void {
  assert.ok(parentPort);
  const port = parentPort;
  const data = workerData as ReplicaData;
  const catalog = new ItemCatalog(data.items, 'ticket-secret', new Int32Array(ITEMS_MAX),
    new Float64Array(ITEMS_MAX * SETTING_FIELDS));
  const bans = new BanList();
  port.on('message', (message: CatalogChange | 'state') => {
    if (message === 'state') port.postMessage(stateOf(catalog, bans));
    else applyReplicated(catalog, bans, message, data.acks);
  });
  port.postMessage('ready');
}

// The test imports stateOf from here too: only a worker runs the replica.
if (!isMainThread) main();
