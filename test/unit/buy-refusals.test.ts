// Proves that every refusal a buy can get has its own per-item counter:
// BuyGate.refuse, the one place a refused buy is counted, moves exactly the
// refused code's slot by one for each buy refusal of the error catalog, as
// admin stats and /metrics read it back under the code's name; a code that
// is not a buy refusal cannot be counted (an assertion, since it would be
// our mistake). A source check adds that every catalog code named in
// buy-gate.ts is a buy refusal, so a new gate answer without a counter
// fails here, not in production. buy-gate.test.ts proves which check
// returns which code.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { StoredItem } from '../../persistence/database';
import { BanList } from '../../engine/ban-list';
import { BuyGate, type BuyGateContext } from '../../engine/buy-gate';
import { Challenges } from '../../engine/challenge';
import { ITEMS_MAX } from '../../engine/constants';
import { BUY_REFUSALS, ERRORS, isBuyRefusal, type ErrorCode } from '../../engine/error-catalog';
import { IdempotencyKeys } from '../../engine/idempotency-keys';
import { InFlightUsers } from '../../engine/in-flight-users';
import { SETTING_FIELDS } from '../../engine/item-book';
import { ItemCatalog, REFUSAL, REFUSAL_FIELDS } from '../../engine/item-catalog';
import { ItemCounters } from '../../engine/item-counters';
import { LagMonitor } from '../../engine/lag-monitor';
import { LatencyHistogram } from '../../engine/latency-histogram';
import { COUNTER_FIELDS } from '../../engine/shard';
import { RecordingReply } from '../helpers/recording-reply';
import { localSignals } from '../helpers/bot-signals';

const NOW = 1_800_000_000_000;

function storedItem(id: string, row: number): StoredItem {
  return {
    id, row, name: id, price: 100, stock: 5, perUserLimit: 1, startsAt: NOW - 1000, endsAt: NOW + 60_000,
    mode: 'order', payWindowSec: 900, challenge: false, fairWindowMs: 0, paused: false,
  };
}

function setUp(): { ctx: BuyGateContext; gate: BuyGate<RecordingReply, null> } {
  const items = [storedItem('first', 1), storedItem('second', 2)];
  const catalog = new ItemCatalog(items, 'ticket-secret', new Int32Array(ITEMS_MAX),
    new Float64Array(ITEMS_MAX * SETTING_FIELDS));
  const ctx: BuyGateContext = {
    catalog, closing: false, inFlight: new InFlightUsers(16), keys: new IdempotencyKeys(16),
    challenges: new Challenges(Buffer.alloc(32), 0, 60_000),
    lag: new LagMonitor(100), rateUser: null, rateAddress: null, bans: new BanList(), latency: new LatencyHistogram(),
    signals: localSignals(),
  };
  const never = (): never => {
    throw new Error('refuse() asks the buyer nothing');
  };
  return { ctx, gate: new BuyGate(ctx, { rateKey: never, userId: never, addressBanned: never, address: never }) };
}

t.test('the buy refusals have one slot each, together all the slots there are', async (t) => {
  const slots = BUY_REFUSALS.map((code) => REFUSAL[code]).sort((a, b) => a - b);
  t.same(slots, Array.from({ length: REFUSAL_FIELDS }, (_, index) => index));
  t.ok(BUY_REFUSALS.length >= 13, `${BUY_REFUSALS.length} buy refusals`);
});

t.test('refusing a buy moves its code\'s slot on its item alone, read back under the code', async (t) => {
  for (const code of BUY_REFUSALS) {
    const { ctx, gate } = setUp();
    const reply = new RecordingReply();
    t.equal(gate.refuse(reply, 1, code), 0, `${code}: no user id`);
    t.same(reply.refusals, [{ code, itemIndex: 1 }], `${code}: answered once, on its item`);
    const expected = new Array<number>(2 * REFUSAL_FIELDS).fill(0);
    expected[REFUSAL_FIELDS + REFUSAL[code]] = 1;
    t.same([...ctx.catalog.refusals.subarray(0, 2 * REFUSAL_FIELDS)], expected, `${code}: item 1's slot, no other`);
    const counts = new ItemCounters(ctx.catalog, new Float64Array(2 * COUNTER_FIELDS), [ctx.catalog.refusals]);
    t.equal(counts.refused(1, code), 1, `${code}: read back as ${code}`);
    t.equal(ctx.latency.count, 1, `${code}: timed as answered at once`);
  }
});

t.test('a code that is not a buy refusal cannot be counted as one', async (t) => {
  const { gate } = setUp();
  t.throws(() => gate.refuse(new RecordingReply(), 0, 'item_live'), { name: 'AssertionError' });
});

t.test('every catalog code named in buy-gate.ts is a buy refusal', async (t) => {
  const source = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'engine', 'buy-gate.ts'), 'utf8');
  const named = [...source.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!).filter((word) => word in ERRORS) as ErrorCode[];
  t.ok(named.length >= 10, `buy-gate.ts was read (${named.length} codes named)`);
  for (const code of named) t.ok(isBuyRefusal(code), `${code} has a refusal counter`);
});
