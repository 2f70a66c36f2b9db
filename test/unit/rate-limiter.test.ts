// Proves the token buckets: a key gets its burst at once, then tokens at the
// configured rate; keys do not share buckets; a collision in the fixed table
// only ever hands out a fresh bucket; and the table's memory is fixed.

import t from 'tap';
import { addressKey, TokenBucketTable } from '../../engine/rate-limiter';

t.test('a key gets its burst, then the rate', async (t) => {
  const table = new TokenBucketTable(2, 3);
  const t0 = 1_000_000;
  t.same([1, 2, 3, 4].map(() => table.take(7, t0)), [true, true, true, false], 'burst 3, the 4th refused');
  t.notOk(table.take(7, t0 + 499), 'just under one token after 499 ms at 2/s');
  t.ok(table.take(7, t0 + 500), 'one token after 500 ms');
  t.notOk(table.take(7, t0 + 500));
  t.same([1, 2, 3, 4].map(() => table.take(7, t0 + 60_000)), [true, true, true, false],
    'refills to the burst, not beyond');
  t.ok(table.take(8, t0), 'another key has its own bucket');
});

t.test('keys that collide in a tiny table get fresh buckets, never another key\'s refusal', async (t) => {
  const table = new TokenBucketTable(1, 1, 2);
  const t0 = 5_000;
  let refusedInnocent = 0;
  for (let key = 1; key <= 1000; key++) if (!table.take(key, t0)) refusedInnocent++;
  t.equal(refusedInnocent, 0, '1000 keys over 2 slots: each first buy allowed');
});

t.test('address keys differ for different addresses and agree for the same', async (t) => {
  const a = addressKey(Uint8Array.from([10, 0, 0, 1]));
  t.equal(a, addressKey(Uint8Array.from([10, 0, 0, 1]).buffer));
  t.not(a, addressKey(Uint8Array.from([10, 0, 0, 2])));
  t.ok(Number.isSafeInteger(a) && a >= 0);
});
