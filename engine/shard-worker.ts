// The body of a shard worker thread. It owns its items exclusively and runs
// a plain loop, no event loop: take every request in the ring, decide, write
// the batch of log records in one write(), publish all answers at once, and
// sleep in Atomics.wait when there is nothing to do (woken by the HTTP
// thread, or by the expiry sweep's timeout).

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openDatabase, readItem } from '../persistence/database';
import { loadItemBook } from './item-book';
import type { Shard } from './shard';
import { EXPIRY_SWEEP_MS } from './constants';
import { emptyOrderView } from './shard';
import { loadShard, type ShardSetup } from './shard-loader';
import { ANSWER_FIELDS, HEAD, Ring, type RingBuffers } from './shard-ring';
import { takeShardSnapshot } from './snapshot';

export const CONTROL_OP = { snapshot: 100, shutdown: 101, addItem: 102 } as const;

export interface WorkerSetup extends ShardSetup {
  dataDir: string;
  requests: RingBuffers;
  answers: RingBuffers;
}

/** An item created while the engine runs: read from the database, so the request carries only its row. */
function addItem(shard: Shard, setup: WorkerSetup, globalIndex: number, row: number): void {
  const db = openDatabase(setup.dataDir, { fsync: setup.fsync, readonly: true });
  try {
    const item = readItem(db, row);
    assert.ok(item !== null, `item row ${row} to add is not in the database`);
    shard.addBook(loadItemBook(db, item, globalIndex, new Float64Array(setup.settings)));
  } finally {
    db.close();
  }
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
  port.postMessage({ type: 'ready' });

  let nextSweepAt = Date.now() + EXPIRY_SWEEP_MS;
  for (;;) {
    let staged = 0;
    let control = 0;
    while (control === 0 && requests.available() > 0) {
      const at = requests.consumerSlot();
      const r = requests.slots;
      const op = r[at]!;
      const token = r[at + 1]!;
      if (op === CONTROL_OP.addItem) addItem(shard, setup, r[at + 2]!, r[at + 4]!);
      else if (op >= CONTROL_OP.snapshot) control = op;
      else {
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
      port.postMessage({ type: 'snapshot', snapshot }, snapshot.items.flatMap((item) => [item.orders.buffer as ArrayBuffer, item.holdings.buffer as ArrayBuffer]));
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
