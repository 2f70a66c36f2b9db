// The body of a shard worker thread. It owns its items exclusively and runs
// a plain loop, no event loop: take every request in the ring, decide, write
// the batch of log records in one write(), publish all answers at once, and
// sleep in Atomics.wait when there is nothing to do (woken by the HTTP
// thread, or by the expiry sweep's timeout).

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openDatabase, type StoredItem } from '../persistence/database';
import { ItemBook, SETTING, SETTING_FIELDS } from './item-book';
import type { Shard } from './shard';
import { EXPIRY_SWEEP_MS } from './constants';
import { emptyOrderView } from './shard';
import { loadShard, type ShardSetup } from './shard-loader';
import {
  ANSWER_FIELDS, emptyRequest, HEAD, nextOp, readAddItem, readRequest, Ring, writeAnswer,
  type RingAddedItem, type RingViews,
} from './shard-ring';
import { snapshotBuffers, takeShardSnapshot } from './snapshot';

export const CONTROL_OP = { snapshot: 100, shutdown: 101, addItem: 102 } as const;

/** Fault injection: `FLASH_FAULT_SHARD_THROW=S:N` makes shard S throw on its Nth request. */
export const FAULT_ENV = 'FLASH_FAULT_SHARD_THROW';

/**
 * How many requests shard `index` decides before it throws, as a bug in it
 * would (0: never). Only the shard-death test sets it, to prove that a dead
 * shard fails its requests loudly and loses nothing acknowledged; the engine
 * logs a warning at start-up whenever it is set.
 */
export function faultCountdown(index: number, value = process.env[FAULT_ENV]): number {
  const match = /^(\d+):(\d+)$/.exec(value ?? '');
  return match && Number(match[1]) === index ? Number(match[2]) : 0;
}

export interface WorkerSetup extends ShardSetup {
  dataDir: string;
  requests: RingViews;
  answers: RingViews;
}

/**
 * An item created while the engine runs. It has no orders yet, so its book
 * needs only numbers: its row, mode and stock from the request, its end,
 * limit and pay window from the shared settings the HTTP thread wrote before
 * sending it. The database is not read: an admin may already have deleted
 * the item again, and then its book is simply never used.
 */
function addItem(shard: Shard, settings: Float64Array, added: RingAddedItem): void {
  const at = added.itemIndex * SETTING_FIELDS;
  const item: StoredItem = {
    row: added.row, id: `row-${added.row}`, name: '', price: 0, stock: added.stock, startsAt: 0, challenge: false,
    mode: added.reserve ? 'reserve' : 'order', endsAt: settings[at + SETTING.endsAt]!,
    perUserLimit: settings[at + SETTING.perUserLimit]!, payWindowSec: settings[at + SETTING.payWindowMs]! / 1000,
  };
  shard.addBook(new ItemBook(item, added.itemIndex, added.stock, settings));
}

function main(): void {
  assert.ok(parentPort, 'shard-worker runs only as a worker thread');
  const port = parentPort;
  const setup = workerData as WorkerSetup;
  const db = openDatabase(setup.dataDir, { fsync: setup.fsync, readonly: true });
  const shard = loadShard(setup, db);
  db.close();
  const requests = new Ring(setup.requests);
  const answers = new Ring(setup.answers);
  assert.equal(answers.fields, ANSWER_FIELDS);
  const view = emptyOrderView();
  const request = emptyRequest();
  const added: RingAddedItem = { itemIndex: 0, reserve: false, row: 0, stock: 0 };
  port.postMessage({ type: 'ready' });

  let nextSweepAt = Date.now() + EXPIRY_SWEEP_MS;
  let faultIn = faultCountdown(setup.index);
  for (;;) {
    let staged = 0;
    let control = 0;
    while (control === 0 && requests.available() > 0) {
      if (nextOp(requests) === CONTROL_OP.addItem) {
        readAddItem(requests, added);
        addItem(shard, setup.settings, added);
        continue;
      }
      readRequest(requests, request);
      if (request.op >= CONTROL_OP.snapshot) {
        control = request.op;
        continue;
      }
      if (faultIn > 0 && --faultIn === 0) throw new Error(`${FAULT_ENV}: shard ${setup.index} throws on purpose`);
      const outcome = shard.run(request.op, request.item, request.user, request.argument, request.nowMs, view);
      writeAnswer(answers, staged++, request.token, outcome, view);
    }
    const now = Date.now();
    if (now >= nextSweepAt) {
      shard.sweep(now);
      nextSweepAt = now + EXPIRY_SWEEP_MS;
    }
    // The records go to the log before any answer about them is published.
    shard.log.flush();
    if (staged > 0) {
      answers.publish(staged);
      Atomics.notify(answers.header, HEAD);
    }
    if (control === CONTROL_OP.snapshot) {
      const snapshot = takeShardSnapshot(shard);
      port.postMessage({ type: 'snapshot', snapshot }, snapshotBuffers(snapshot));
    } else if (control === CONTROL_OP.shutdown) {
      shard.log.close();
      port.postMessage({ type: 'closed' });
      return;
    } else if (staged === 0) {
      requests.waitForEntries(Math.max(1, nextSweepAt - Date.now()));
    }
  }
}

// Imported on the main thread for its types and constants; runs only as a worker.
if (!isMainThread) main();
