// Proves that the persistence thread's transactions survive the main
// thread writing the same database at the same time (an admin's restock,
// pause or audit row), as they do in a running engine: a second connection
// on another thread commits small writes in a tight loop while this thread
// applies 400 batches of log records. Each batch's transaction reads the
// newest event before it writes; begun deferred, it would fail with
// SQLITE_BUSY_SNAPSHOT whenever the other connection committed in between,
// which no busy timeout retries. Every batch must apply, with its events
// numbered 1..N.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { databaseFile } from '../../persistence/data-directory';
import { openDatabase, upsertItem } from '../../persistence/database';
import { LogApplier } from '../../persistence/log-applier';
import { LOG_RECORD_BYTES } from '../../persistence/log-constants';
import { encodeFields, ORDER_STATE, RECORD_TYPE } from '../../persistence/log-record';
import { orderIdOf } from '../../persistence/order-id';

const T0 = 1_700_000_000_000;
const BATCHES = 400;
const PER_BATCH = 10;

/** Commits `UPDATE items` in a loop on its own connection until told to stop; posts how many it made. */
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 10000');
const update = db.prepare('UPDATE items SET updated_at = ? WHERE row = 1');
const stop = new Int32Array(workerData.stop);
let writes = 0;
while (Atomics.load(stop, 0) === 0) { update.run(writes++); }
db.close();
parentPort.postMessage(writes);
`;

t.test('batches apply while another connection writes in a loop', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-contention-'));
  const db = openDatabase(dir, { fsync: false });
  t.teardown(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  upsertItem(db, { id: 'a', name: 'a', price: 1, stock: 1e6, perUserLimit: 1, startsAt: T0, endsAt: T0 + 1e9,
    mode: 'order', payWindowSec: 60, challenge: false, fairWindowMs: 0 }, T0);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const writer = new Worker(WRITER, { eval: true,
    workerData: { module: require.resolve('better-sqlite3'), file: databaseFile(dir), stop: stop.buffer } });
  const writes = new Promise<number>((resolve, reject) => {
    writer.once('message', resolve);
    writer.once('error', reject);
  });
  // Let the writer get going before the batches start.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const applier = new LogApplier(db);
  const bytes = Buffer.alloc(PER_BATCH * LOG_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let failures = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    for (let i = 0; i < PER_BATCH; i++) {
      const sequence = batch * PER_BATCH + i + 1;
      encodeFields(view, bytes, i * LOG_RECORD_BYTES, RECORD_TYPE.won, ORDER_STATE.confirmed, orderIdOf(1, sequence),
        sequence, T0 + sequence, 0, T0 + sequence, 0);
    }
    try {
      applier.apply('s0', bytes, PER_BATCH, batch * PER_BATCH);
    } catch (error) {
      failures++;
      t.fail(`batch ${batch}: ${(error as Error).message}`);
      break;
    }
  }
  Atomics.store(stop, 0, 1);
  t.ok(await writes > 0, 'the other connection committed writes throughout');
  t.equal(failures, 0, 'every batch applied');
  t.equal(applier.lastEventSeq, BATCHES * PER_BATCH, 'with one event per record, offsets 1..N');
});
