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
import { ANSWER_FIELDS, HEAD, Ring, type RingBuffers } from './shard-ring';
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
  requests: RingBuffers;
  answers: RingBuffers;
}

/**
 * An item created while the engine runs. It has no orders yet, so its book
 * needs only numbers: its row, mode and stock from the request, its end,
 * limit and pay window from the shared settings the HTTP thread wrote before
 * sending it. The database is not read: an admin may already have deleted
 * the item again, and then its book is simply never used.
 */
function addItem(shard: Shard, settings: Float64Array, globalIndex: number, row: number, reserve: boolean, stock: number): void {
  const at = globalIndex * SETTING_FIELDS;
  const item: StoredItem = {
    row, id: `row-${row}`, name: '', price: 0, stock, startsAt: 0, challenge: false, mode: reserve ? 'reserve' : 'order',
    endsAt: settings[at + SETTING.endsAt]!, perUserLimit: settings[at + SETTING.perUserLimit]!, payWindowSec: settings[at + SETTING.payWindowMs]! / 1000,
  };
  shard.addBook(new ItemBook(item, globalIndex, stock, settings));
}

function main(): void {
  assert.ok(parentPort, 'shard-worker runs only as a worker thread');
  const port = parentPort;
  const setup = workerData as WorkerSetup;
  const db = openDatabase(setup.dataDir, { fsync: setup.fsync, readonly: true });
  const shard = loadShard(setup, db);
  db.close();
  const settings = new Float64Array(setup.settings);
  const requests = new Ring(setup.requests);
  const answers = new Ring(setup.answers);
  assert.equal(answers.fields, ANSWER_FIELDS);
  const view = emptyOrderView();
  port.postMessage({ type: 'ready' });

  let nextSweepAt = Date.now() + EXPIRY_SWEEP_MS;
  let faultIn = faultCountdown(setup.index);
  for (;;) {
    let staged = 0;
    let control = 0;
    while (control === 0 && requests.available() > 0) {
      const at = requests.consumerSlot();
      const r = requests.slots;
      const op = r[at]!;
      const token = r[at + 1]!;
      if (op === CONTROL_OP.addItem) addItem(shard, settings, r[at + 2]!, r[at + 4]!, r[at + 3] === 1, r[at + 5]!);
      else if (op >= CONTROL_OP.snapshot) control = op;
      else {
        if (faultIn > 0 && --faultIn === 0) throw new Error(`${FAULT_ENV}: shard ${setup.index} throws on purpose`);
        const outcome = shard.run(op, r[at + 2]!, r[at + 3]!, r[at + 4]!, r[at + 5]!, view);
        const out = answers.producerSlotAhead(staged++);
        const a = answers.slots;
        a[out] = token;
        a[out + 1] = outcome;
        a[out + 2] = view.orderId;
        a[out + 3] = view.userId;
        a[out + 4] = view.state;
        a[out + 5] = view.createdAt;
        a[out + 6] = view.payBy;
      }
      requests.release();
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
