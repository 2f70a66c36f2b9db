// Proves that token buckets stay exact when several threads share a table
// (engine/rate-limiter.ts over SharedArrayBuffers): four real worker
// threads (test/helpers/shared-table-worker.ts), released together by a
// barrier, take tokens for the same four keys with an injected clock that
// advances one millisecond every four takes per key. Each key must be allowed
// exactly burst + rate x elapsed in total, which is also what one thread
// alone allows for the same takes: no lost update hands out a token twice.
// On one thread: a take whose clock read lags the bucket's stamp finds the
// tokens there, rather than a bucket rewound to the older time.

import t from 'tap';
import { createBucketViews, TokenBucketTable } from '../../engine/rate-limiter';
import { runWorkers } from '../helpers/shared-table-worker';

const THREADS = 4;
const RATE_PER_SECOND = 2000;
const BURST = 50;
const KEYS = [7, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, 123_456_789];
const TAKES = 40_000;
/**
 * Takes per key per millisecond on each thread: twice the refill, so even one
 * thread alone empties its buckets (no token is left over at the end, and the
 * burst cap never binds), while about a quarter of the takes change a
 * bucket, so lost updates would show (without the lock words, this test
 * counts dozens of extra tokens).
 */
const TAKES_PER_MS = 4;
const T0_MS = 1_700_000_000_000;

/** The clock of take `i` on every thread, as the worker computes it. */
const nowOf = (i: number): number => T0_MS + Math.floor(i / (TAKES_PER_MS * KEYS.length));

t.test('4 threads taking for the same keys are allowed burst + rate x elapsed per key, as one thread is',
  async (t) => {
  const elapsedMs = nowOf(TAKES - 1) - T0_MS;
  const expected = BURST + (RATE_PER_SECOND / 1000) * elapsedMs;
  t.ok(TAKES_PER_MS >= (2 * RATE_PER_SECOND) / 1000, 'each thread asks for twice the refill');

  const alone = new TokenBucketTable(RATE_PER_SECOND, BURST);
  const aloneAllowed = KEYS.map(() => 0);
  for (let i = 0; i < TAKES; i++) {
    for (let thread = 0; thread < THREADS; thread++) {
      if (alone.take(KEYS[i % KEYS.length]!, nowOf(i))) aloneAllowed[i % KEYS.length]!++;
    }
  }
  t.same(aloneAllowed, KEYS.map(() => expected), 'one thread alone, the four schedules interleaved');

  const views = createBucketViews();
  const allowed = new Int32Array(new SharedArrayBuffer(KEYS.length * Int32Array.BYTES_PER_ELEMENT));
  await runWorkers({
    kind: 'bucket-take', views, ratePerSecond: RATE_PER_SECOND, burst: BURST, keys: KEYS, takes: TAKES,
    t0Ms: T0_MS, takesPerMs: TAKES_PER_MS, allowed,
  }, THREADS);
  t.same([...allowed], KEYS.map(() => expected), 'four threads at once');
});

t.test('a take whose clock read lags another thread\'s finds the tokens the bucket holds', async (t) => {
  const table = new TokenBucketTable(1, 2);
  t.ok(table.take(9, 10_000));
  t.ok(table.take(9, 10_000));
  t.ok(table.take(9, 12_000), 'two tokens earned; one taken');
  t.ok(table.take(9, 11_999), 'a thread that read the clock a moment earlier takes the one left');
  t.notOk(table.take(9, 12_000), 'and the bucket is empty at the newest stamp, not refilled by the rewind');
});
