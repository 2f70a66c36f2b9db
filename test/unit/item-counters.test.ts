// Proves the one reader of per-item counters (engine/item-counters.ts):
// given shard counters and HTTP-thread refusal counters written at known
// slots, it reads exact orders by state, open reservations by mode, and
// refusals by code, adding the shard's sold_out and limit_reached to the
// HTTP thread's; items never read each other's slots. The buy refusals are
// pinned by name, since admin stats and /metrics report them under these.

import t from 'tap';
import { BUY_REFUSALS, ERRORS, isBuyRefusal, type ErrorCode } from '../../engine/error-catalog';
import { REFUSAL, REFUSAL_FIELDS } from '../../engine/item-catalog';
import { ItemCounters } from '../../engine/item-counters';
import { COUNTER, COUNTER_FIELDS } from '../../engine/shard';

/** Two items: index 0 in reserve mode, index 1 in order mode. */
function setUp(): { counts: ItemCounters; shard: Float64Array; refusals: Float64Array } {
  const shard = new Float64Array(2 * COUNTER_FIELDS);
  const refusals = new Float64Array(2 * REFUSAL_FIELDS);
  const catalog = { items: [{ mode: 'reserve' as const }, { mode: 'order' as const }] };
  return { counts: new ItemCounters(catalog, shard, [refusals]), shard, refusals };
}

t.test('the buy refusals are the fifteen names stats and metrics report', async (t) => {
  t.same([...BUY_REFUSALS].sort(), [
    'bad_request', 'bad_ticket', 'banned', 'challenge_failed', 'ended', 'in_progress', 'key_reused', 'limit_reached',
    'not_started', 'overloaded', 'paused', 'rate_limited', 'shutting_down', 'sold_out', 'unauthorized',
  ]);
  t.equal(REFUSAL_FIELDS, 15);
  t.same(BUY_REFUSALS.map((code) => REFUSAL[code]), [...Array(15).keys()], 'each has its own slot, in catalog order');
  const others = (Object.keys(ERRORS) as ErrorCode[]).filter((code) => !isBuyRefusal(code));
  for (const code of ['unknown_item', 'too_large', 'item_live'] as const) {
    t.ok(others.includes(code), `${code} has no slot: no buy gets it`);
  }
});

t.test('a reserve item reads orders by state and its open reservations', async (t) => {
  const { counts, shard } = setUp();
  shard[COUNTER.won] = 10;
  shard[COUNTER.paid] = 4;
  shard[COUNTER.cancelled] = 1;
  shard[COUNTER.expired] = 2;
  t.equal(counts.won(0), 10);
  t.equal(counts.openReservations(0), 3, '10 won - 4 paid - 1 cancelled - 2 expired');
  const read = counts.read(0);
  t.same({ ...read, refused: undefined }, {
    won: 10, reserved: 3, paid: 4, confirmed: 0, expired: 2, cancelled: 1, refused: undefined,
  });
  t.equal(counts.won(1), 0, 'the other item is untouched');
  shard[COUNTER_FIELDS + COUNTER.won] = 4;
  t.equal(counts.wonTotal(), 14, 'both items\' orders');
});

t.test('an order item has no open reservations: its orders are confirmed', async (t) => {
  const { counts, shard } = setUp();
  shard[COUNTER_FIELDS + COUNTER.won] = 7;
  t.equal(counts.openReservations(1), 0);
  const read = counts.read(1);
  t.equal(read.confirmed, 7);
  t.equal(read.reserved, 0);
  t.equal(read.won, 7);
  t.equal(counts.read(0).confirmed, 0, 'a reserve item confirms nothing');
});

t.test('refusals add the shard\'s counts to the HTTP thread\'s, per code and per item', async (t) => {
  const { counts, shard, refusals } = setUp();
  shard[COUNTER_FIELDS + COUNTER.soldOut] = 5;
  shard[COUNTER_FIELDS + COUNTER.limitReached] = 2;
  refusals[REFUSAL_FIELDS + REFUSAL.sold_out] = 3;
  refusals[REFUSAL_FIELDS + REFUSAL.bad_ticket] = 4;
  refusals[REFUSAL_FIELDS + REFUSAL.overloaded] = 6;
  refusals[REFUSAL.banned] = 9;
  t.equal(counts.refused(1, 'sold_out'), 8, '5 by the shard + 3 by the HTTP thread');
  t.equal(counts.refused(1, 'limit_reached'), 2);
  t.equal(counts.refused(1, 'bad_ticket'), 4);
  t.equal(counts.refused(1, 'overloaded'), 6);
  t.equal(counts.refused(1, 'banned'), 0, 'item 0\'s refusal is not item 1\'s');
  t.equal(counts.refused(0, 'banned'), 9);
  const expected = Object.fromEntries(BUY_REFUSALS.map((code) => [code, 0]));
  t.same(counts.read(1).refused, { ...expected, sold_out: 8, limit_reached: 2, bad_ticket: 4, overloaded: 6 });
  t.same(Object.keys(counts.read(1).refused), BUY_REFUSALS, 'every buy refusal is read, none else');
});
