// Proves the idempotency-key table on one thread (engine/idempotency-keys.ts):
// a key begins once and is then in flight; a final answer (won, sold_out,
// limit_reached) is kept with its order id and payBy, any other answer
// forgets the key; another item is told apart; keys are per user; the
// bound holds at capacity - 1, capacity and capacity + 1, and a kept key is
// still answered when the table is full; start-up restores wins; and keys
// removed from the middle of probe runs leave every other key findable.

import t from 'tap';
import { OUTCOME } from '../../engine/error-catalog';
import { IdempotencyKeys, KEY_STATE, type KeyAnswer } from '../../engine/idempotency-keys';

const USER = 42;
const ITEM = 3;

function answer(): KeyAnswer {
  return { outcome: -1, orderId: 0, payBy: 0 };
}

t.test('a key begins once, is in flight until finished, then keeps a win with its order and payBy', async (t) => {
  const keys = new IdempotencyKeys(16);
  const out = answer();
  t.equal(keys.look(USER, 7, ITEM, out), KEY_STATE.absent);
  t.equal(keys.begin(USER, 7, ITEM, out), KEY_STATE.begun);
  t.equal(keys.size, 1);
  t.equal(keys.begin(USER, 7, ITEM, out), KEY_STATE.inFlight, 'a second begin finds it in flight');
  t.equal(keys.look(USER, 7, ITEM, out), KEY_STATE.inFlight);
  t.equal(keys.look(USER, 7, ITEM + 1, out), KEY_STATE.otherItem, 'on another item it is told apart');
  t.equal(keys.look(USER + 1, 7, ITEM, out), KEY_STATE.absent, 'another user\'s same key is another key');
  keys.finish(USER, 7, OUTCOME.ok, 2 ** 40 + 9, 1_700_000_000_000);
  t.equal(keys.look(USER, 7, ITEM, out), KEY_STATE.done);
  t.same(out, { outcome: OUTCOME.ok, orderId: 2 ** 40 + 9, payBy: 1_700_000_000_000 });
  t.equal(keys.begin(USER, 7, ITEM, answer()), KEY_STATE.done, 'a begin of a kept key is its answer');
  t.equal(keys.begin(USER, 7, ITEM + 1, out), KEY_STATE.otherItem);
  t.equal(keys.size, 1);
});

t.test('sold_out and limit_reached are kept; every other outcome forgets the key', async (t) => {
  const keys = new IdempotencyKeys(16);
  const out = answer();
  for (const outcome of [OUTCOME.sold_out, OUTCOME.limit_reached]) {
    keys.begin(USER, 10 + outcome, ITEM, out);
    keys.finish(USER, 10 + outcome, outcome, 0, 0);
    t.equal(keys.look(USER, 10 + outcome, ITEM, out), KEY_STATE.done);
    t.same(out, { outcome, orderId: 0, payBy: 0 }, `outcome ${outcome} kept, with no order`);
  }
  for (const outcome of [OUTCOME.overloaded, OUTCOME.ended]) {
    keys.begin(USER, 20 + outcome, ITEM, out);
    keys.finish(USER, 20 + outcome, outcome, 0, 0);
    t.equal(keys.look(USER, 20 + outcome, ITEM, out), KEY_STATE.absent, `outcome ${outcome} forgets the key`);
  }
  keys.begin(USER, 99, ITEM, out);
  keys.remove(USER, 99);
  t.equal(keys.look(USER, 99, ITEM, out), KEY_STATE.absent, 'a removed key is gone');
  t.equal(keys.size, 2);
});

t.test('finishing or removing a key that is not in flight is our bug: an assertion', async (t) => {
  const keys = new IdempotencyKeys(16);
  t.throws(() => keys.finish(USER, 5, OUTCOME.ok, 1, 0));
  t.throws(() => keys.remove(USER, 5));
  keys.begin(USER, 5, ITEM, answer());
  keys.finish(USER, 5, OUTCOME.ok, 1, 0);
  t.throws(() => keys.finish(USER, 5, OUTCOME.ok, 1, 0), 'a kept key is finished once');
  t.throws(() => keys.begin(USER, 0, ITEM, answer()), 'key 0 is no key');
  t.throws(() => keys.begin(USER, 2 ** 52 + 1, ITEM, answer()), 'keys stop at 2^52');
});

t.test('the bound: capacity - 1 and capacity keys fit, the next is full, kept keys still answer', async (t) => {
  const capacity = 64;
  const keys = new IdempotencyKeys(capacity);
  const out = answer();
  for (let key = 1; key < capacity; key++) t.equal(keys.begin(USER, key, ITEM, out), KEY_STATE.begun);
  t.equal(keys.size, capacity - 1);
  t.equal(keys.begin(USER, capacity, ITEM, out), KEY_STATE.begun, 'the capacity-th key fits');
  t.equal(keys.begin(USER, capacity + 1, ITEM, out), KEY_STATE.full, 'one more is refused');
  t.notOk(keys.restoreWon(USER, capacity + 1, ITEM, 1, 0), 'and is not restored either');
  keys.finish(USER, 1, OUTCOME.ok, 11, 0);
  t.equal(keys.begin(USER, 1, ITEM, out), KEY_STATE.done, 'a kept key is still answered when full');
  t.equal(keys.begin(USER, 2, ITEM, out), KEY_STATE.inFlight, 'and a key in flight still told so');
  keys.finish(USER, 2, OUTCOME.overloaded, 0, 0);
  t.equal(keys.begin(USER, capacity + 1, ITEM, out), KEY_STATE.begun, 'a forgotten key makes room');
});

t.test('start-up restores wins as kept answers, once each', async (t) => {
  const keys = new IdempotencyKeys(16);
  const out = answer();
  t.ok(keys.restoreWon(USER, 2 ** 52, ITEM, 77, 123));
  t.equal(keys.look(USER, 2 ** 52, ITEM, out), KEY_STATE.done);
  t.same(out, { outcome: OUTCOME.ok, orderId: 77, payBy: 123 });
  t.throws(() => keys.restoreWon(USER, 2 ** 52, ITEM, 78, 0), 'two orders with one key is a bug');
});

t.test('removing keys from the middle of probe runs keeps every other key findable', async (t) => {
  const capacity = 4096;
  const keys = new IdempotencyKeys(capacity);
  const out = answer();
  // A few users with many keys each: long shared probe runs.
  const pairs = Array.from({ length: capacity }, (_, i) => [1 + (i % 5), 1 + i * 7919] as const);
  for (const [user, key] of pairs) keys.begin(user, key, ITEM, out);
  let lost = 0;
  for (let round = 0; round < 4; round++) {
    for (let i = round; i < pairs.length; i += 4) keys.finish(pairs[i]![0], pairs[i]![1], OUTCOME.overloaded, 0, 0);
    for (let i = round + 1; i < pairs.length; i++) {
      if (i % 4 <= round) continue;
      if (keys.look(pairs[i]![0], pairs[i]![1], ITEM, out) !== KEY_STATE.inFlight) lost++;
    }
  }
  t.equal(lost, 0, 'no key lost by a backward shift');
  t.equal(keys.size, 0);
});
