// Proves the lock word of engine/atomic-lock.ts: four real worker threads
// (test/helpers/shared-table-worker.ts), released together by a barrier,
// each add 1 to the same plain float64 200,000 times, each addition under
// the lock. With more threads than this machine may have cores, holders are
// descheduled mid-section, so waiters reach the blocking path as well as the
// spin. No increment may be lost, and the word must end free.

import t from 'tap';
import { createLockWords } from '../../engine/atomic-lock';
import { runWorkers } from '../helpers/shared-table-worker';

const THREADS = 4;
const TIMES = 200_000;

t.test('4 threads adding under one lock word lose no increment and leave it free', async (t) => {
  const words = createLockWords(1);
  const counter = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT));
  await runWorkers({ kind: 'lock-count', words, counter, times: TIMES }, THREADS);
  t.equal(counter[0], THREADS * TIMES);
  t.equal(Atomics.load(words, 0), 0, 'free');
});
