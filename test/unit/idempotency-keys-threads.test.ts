// Proves that the idempotency-key table stays exact when several threads
// share it (engine/idempotency-keys.ts over SharedArrayBuffers): four real
// worker threads (test/helpers/shared-table-worker.ts), released together
// by a barrier, each begin the same 20,000 (user, key) pairs, as parallel
// retries of one buy on several HTTP threads would; every pair must be
// begun by exactly one thread, and every other thread must see it in flight
// or done with the winner's order, never a second begin. Then four threads
// each cycle their own keys through the table at once, so that backward
// shifts on one thread move entries another thread is about to look up: no
// key may be lost while in flight or kept after it was given up.

import t from 'tap';
import { createIdempotencyViews, IdempotencyKeys, KEY_STATE } from '../../engine/idempotency-keys';
import { runWorkers } from '../helpers/shared-table-worker';

const THREADS = 4;
const PAIRS = 20_000;

const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

t.test('4 threads beginning the same 20,000 keys begin each once; the others see it in flight or its answer',
  async (t) => {
  const views = createIdempotencyViews(PAIRS);
  // Few users with many keys each, and keys near 2^52, so that probe runs are shared by one user's keys.
  const users = Float64Array.from({ length: PAIRS }, (_, i) => 1 + (i % 7));
  const keys = Float64Array.from({ length: PAIRS }, (_, i) => (i % 2 === 0 ? 1 + i : 2 ** 52 - i));
  const begun = new Int32Array(new SharedArrayBuffer(PAIRS * Int32Array.BYTES_PER_ELEMENT));
  const wrong = await runWorkers({ kind: 'keys-begin', views, capacity: PAIRS, users, keys, begun }, THREADS);
  t.same(wrong, [0, 0, 0, 0], 'no thread saw another order, another item or a full table');
  t.equal(begun.filter((count) => count !== 1).length, 0, 'every key begun by exactly one thread');
  const table = new IdempotencyKeys(PAIRS, views);
  t.equal(table.size, PAIRS);
  const out = { outcome: -1, orderId: 0, payBy: 0 };
  let kept = 0;
  for (let i = 0; i < PAIRS; i++) {
    if (table.look(users[i]!, keys[i]!, 0, out) === KEY_STATE.done && out.orderId === i + 1) kept++;
  }
  t.equal(kept, PAIRS, 'every key keeps the order its one buy won');
});

t.test('keys cycled through a half-full table by 4 threads at once are never lost or kept after', async (t) => {
  const held = 500;
  const count = 20_000;
  const capacity = THREADS * (held + 1);
  const views = createIdempotencyViews(capacity);
  const wrong = await runWorkers({ kind: 'keys-churn', views, capacity, firstKey: 2 ** 40, count, held }, THREADS);
  t.same(wrong, [0, 0, 0, 0]);
  t.equal(sum(wrong), 0);
  t.equal(new IdempotencyKeys(capacity, views).size, 0);
  t.equal(views.slots.filter((value) => value !== 0).length, 0, 'no slot left occupied');
});
