// Proves that every refusal a buy gate can return has a per-item counter:
// each gate of engine/buy-gate.ts is driven into each of its refusals, and
// counting that refusal moves exactly its own slot by one, as admin stats
// and /metrics read it back under the code's name. A source check adds that
// every catalog code named in buy-gate.ts is a buy refusal, so a new gate
// answer without a counter fails here, not in production.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { StoredItem } from '../../persistence/database';
import { BanList } from '../../engine/ban-list';
import { buyerGate, challengeGate, countBuyRefusal, itemGate, loadGate, type GateContext } from '../../engine/buy-gate';
import { Challenges } from '../../engine/challenge';
import { ERRORS, isBuyRefusal, type BuyRefusal, type ErrorCode } from '../../engine/error-catalog';
import { InFlightUsers } from '../../engine/in-flight-users';
import { SETTING_FIELDS } from '../../engine/item-book';
import { ItemCatalog, REFUSAL, REFUSAL_FIELDS } from '../../engine/item-catalog';
import { ItemCounters } from '../../engine/item-counters';
import { LagMonitor } from '../../engine/lag-monitor';
import { LatencyHistogram } from '../../engine/latency-histogram';
import { TokenBucketTable } from '../../engine/rate-limiter';
import { COUNTER_FIELDS } from '../../engine/shard';
import { ITEMS_MAX } from '../../engine/constants';

const NOW = 1_800_000_000_000;

function storedItem(id: string, row: number, overrides: Partial<StoredItem> = {}): StoredItem {
  return {
    id, row, name: id, price: 100, stock: 5, perUserLimit: 1, startsAt: NOW - 1000, endsAt: NOW + 60_000,
    mode: 'order', payWindowSec: 900, challenge: false, paused: false, ...overrides,
  };
}

/** A gate context whose every check passes for user 7 on item 0 ("plain") until a test changes one thing. */
function setUp(): GateContext {
  const items = [storedItem('plain', 1), storedItem('quiz', 2, { challenge: true })];
  const left = new Int32Array(ITEMS_MAX);
  left.fill(5, 0, items.length);
  const catalog = new ItemCatalog(items, 'ticket-secret', left, new Float64Array(ITEMS_MAX * SETTING_FIELDS));
  return {
    catalog, closing: false, inFlight: new InFlightUsers(16), challenges: new Challenges(Buffer.alloc(32), 0, 60_000),
    lag: new LagMonitor(100), rateUser: new TokenBucketTable(1, 1), rateAddress: new TokenBucketTable(1, 1),
    bans: new BanList(), latency: new LatencyHistogram(),
  };
}

/** The item gate for user 7 on item 0 with its right ticket, now. */
function passItem(ctx: GateContext): ErrorCode | null {
  return itemGate(ctx, 0, ctx.catalog.tickets[0]!, 7, NOW);
}

/** Each gate, driven into each refusal it can return: [code, what was changed, the gate's answer]. */
function refusalsOfTheGates(): [string, ErrorCode | null][] {
  const cases: [string, (ctx: GateContext) => ErrorCode | null][] = [
    ['load: the loop lags', (ctx) => { ctx.lag.shedding = true; return loadGate(ctx, 1, NOW); }],
    ['load: the address is over its rate', (ctx) => { loadGate(ctx, 1, NOW); return loadGate(ctx, 1, NOW); }],
    ['buyer: no token', (ctx) => buyerGate(ctx, 0, NOW)],
    ['buyer: over the user rate', (ctx) => { buyerGate(ctx, 7, NOW); return buyerGate(ctx, 7, NOW); }],
    ['buyer: a banned user', (ctx) => { ctx.bans.banUser(7); return buyerGate(ctx, 7, NOW); }],
    ['item: not started', (ctx) => itemGate(ctx, 0, ctx.catalog.tickets[0]!, 7, NOW - 2000)],
    ['item: ended', (ctx) => itemGate(ctx, 0, ctx.catalog.tickets[0]!, 7, NOW + 60_000)],
    ['item: a wrong ticket', (ctx) => itemGate(ctx, 0, 'A'.repeat(ctx.catalog.tickets[0]!.length), 7, NOW)],
    ['item: the engine is closing', (ctx) => { ctx.closing = true; return passItem(ctx); }],
    ['item: paused', (ctx) => { ctx.catalog.paused[0] = 1; return passItem(ctx); }],
    ['item: sold out', (ctx) => { Atomics.store(ctx.catalog.left, 0, 0); return passItem(ctx); }],
    ['item: a buy in flight', (ctx) => { ctx.inFlight.add(7); return passItem(ctx); }],
    ['challenge: a wrong answer', (ctx) => challengeGate(ctx, 1, 7, '1.x', '00000', NOW)],
  ];
  return cases.map(([name, run]) => [name, run(setUp())]);
}

t.test('every gate passes a buy that breaks no rule', async (t) => {
  const ctx = setUp();
  t.equal(loadGate(ctx, 1, NOW), null);
  t.equal(buyerGate(ctx, 7, NOW), null);
  t.equal(itemGate(ctx, 0, ctx.catalog.tickets[0]!, 7, NOW), null);
  t.equal(challengeGate(ctx, 0, 7, undefined, undefined, NOW), null, 'an item without a challenge asks none');
});

t.test('every refusal a gate returns has a slot, and counting it moves that slot alone', async (t) => {
  const seen = new Set<BuyRefusal>();
  for (const [name, code] of refusalsOfTheGates()) {
    t.not(code, null, `${name}: refused`);
    if (code === null) continue;
    t.ok(isBuyRefusal(code), `${name}: ${code} is a buy refusal`);
    if (!isBuyRefusal(code)) continue;
    seen.add(code);
    const ctx = setUp();
    countBuyRefusal(ctx, 1, code);
    const slots = [...ctx.catalog.refusals.subarray(0, 2 * REFUSAL_FIELDS)];
    const expected = new Array<number>(2 * REFUSAL_FIELDS).fill(0);
    expected[REFUSAL_FIELDS + REFUSAL[code]] = 1;
    t.same(slots, expected, `${name}: item 1's ${code} slot, and no other, is 1`);
    const counts = new ItemCounters(ctx.catalog, new Float64Array(2 * COUNTER_FIELDS));
    t.equal(counts.refused(1, code), 1, `${name}: read back as ${code}`);
    t.equal(ctx.latency.count, 1, `${name}: timed as answered at once`);
  }
  t.same([...seen].sort(), [
    'banned', 'bad_ticket', 'challenge_failed', 'ended', 'not_started', 'overloaded', 'paused', 'rate_limited',
    'shutting_down', 'sold_out', 'unauthorized',
  ].sort(), 'the gates were driven into all eleven of their refusals');
});

t.test('a code that is not a buy refusal cannot be counted as one', async (t) => {
  t.throws(() => countBuyRefusal(setUp(), 0, 'item_live'), { name: 'AssertionError' });
});

t.test('every catalog code named in buy-gate.ts is a buy refusal', async (t) => {
  const source = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'engine', 'buy-gate.ts'), 'utf8');
  const named = [...source.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!).filter((word) => word in ERRORS) as ErrorCode[];
  t.ok(named.length >= 10, `buy-gate.ts was read (${named.length} codes named)`);
  for (const code of named) t.ok(isBuyRefusal(code), `${code} has a refusal counter`);
});
