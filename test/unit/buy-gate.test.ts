// Proves the one buy check chain both transports call (BuyGate): each check
// refuses with its own code, in the order load, buyer, address ban, item,
// then the challenge; the token is read only once the load checks passed
// (it costs an HMAC); the address is asked about bans only while a range is
// banned; every refusal is answered once through the reply and counted on
// the item and in the latency histogram. The test peels the failures off
// one at a time, so each assertion names the next check in the chain. A
// keyed buy is told in_progress or key_reused, gets a kept win replayed
// even once the item sold out, and its claim refuses a full key table and
// gives its key back when the user is already in flight.

import t from 'tap';
import { BanList } from '../../engine/ban-list';
import { BuyGate, type Buyer, type BuyGateContext } from '../../engine/buy-gate';
import { Challenges, challengeAnswer, challengeSecretOf } from '../../engine/challenge';
import { ITEMS_MAX } from '../../engine/constants';
import { OUTCOME, type ErrorCode, type Outcome } from '../../engine/error-catalog';
import { KEY_NONE } from '../../engine/idempotency-key';
import { IdempotencyKeys, KEY_STATE } from '../../engine/idempotency-keys';
import { InFlightUsers } from '../../engine/in-flight-users';
import { SETTING_FIELDS } from '../../engine/item-book';
import { ItemCatalog, REFUSAL, REFUSAL_FIELDS } from '../../engine/item-catalog';
import { LagMonitor } from '../../engine/lag-monitor';
import { LatencyHistogram } from '../../engine/latency-histogram';
import { TokenBucketTable } from '../../engine/rate-limiter';
import type { OrderView } from '../../engine/shard';
import type { StoredItem } from '../../persistence/database';
import { localSignals } from '../helpers/bot-signals';
import { RecordingReply } from '../helpers/recording-reply';

const NOW = 1_800_000_000_000;
const USER = 42;
const ADDRESS_KEY = 7;
const secret = challengeSecretOf('ticket-secret');

function storedItem(id: string, row: number, fields: Partial<StoredItem> = {}): StoredItem {
  return {
    id, row, name: id, price: 100, stock: 5, perUserLimit: 1, startsAt: NOW - 1000, endsAt: NOW + 60_000, mode: 'order',
    payWindowSec: 0, challenge: false, fairWindowMs: 0, paused: false, ...fields,
  };
}

/** A gate whose buyer answers from fields the test sets, and counts how often each is asked. */
function setup() {
  const items = [storedItem('plain', 1), storedItem('quiz', 2, { challenge: true })];
  const left = new Int32Array(ITEMS_MAX);
  left[0] = 5;
  left[1] = 5;
  const catalog = new ItemCatalog(items, 'ticket-secret', left, new Float64Array(ITEMS_MAX * SETTING_FIELDS));
  const ctx: BuyGateContext = {
    catalog, closing: false, inFlight: new InFlightUsers(16), keys: new IdempotencyKeys(16),
    challenges: new Challenges(secret, 100, 60_000),
    lag: new LagMonitor(1000), rateUser: new TokenBucketTable(1000, 1000),
    rateAddress: new TokenBucketTable(1000, 1000),
    bans: new BanList(), latency: new LatencyHistogram(), signals: localSignals(),
  };
  const client = { rateKey: ADDRESS_KEY, userId: USER, addressBanned: false, userAsked: 0, addressAsked: 0 };
  const buyer: Buyer<RecordingReply, null> = {
    rateKey: () => client.rateKey,
    userId: () => {
      client.userAsked++;
      return client.userId;
    },
    addressBanned: () => {
      client.addressAsked++;
      return client.addressBanned;
    },
    address: () => '10.1.2.3',
  };
  return { ctx, catalog, client, gate: new BuyGate(ctx, buyer) };
}

/** Admits a buy of item 0 with its ticket (or `ticket`); the refusal code, or the user id when it passed. */
function tryBuy(g: ReturnType<typeof setup>, ticket = g.catalog.tickets[0]!):
  { code: ErrorCode | null; userId: number } {
  const reply = new RecordingReply();
  const userId = g.gate.admit(reply, null, 0, ticket, KEY_NONE, NOW);
  t.ok(reply.refusals.length === (userId === 0 ? 1 : 0), 'one answer for a refusal, none for a pass');
  if (reply.refusals.length === 1) t.equal(reply.refusals[0]!.itemIndex, 0, 'the refusal names its item');
  return { code: reply.refusals[0]?.code ?? null, userId };
}

t.test('the checks refuse in the order load, buyer, address ban, item, each with its own code', async (t) => {
  const g = setup();
  const { ctx, catalog, client } = g;
  // Every check fails at first; each step below clears the one that refused.
  ctx.lag.fields[1] = 1; // shedding
  for (let i = 0; i < 2000; i++) ctx.rateAddress!.take(ADDRESS_KEY, NOW);
  client.userId = 0;
  for (let i = 0; i < 2000; i++) ctx.rateUser!.take(USER, NOW);
  ctx.bans.banUser(USER);
  ctx.bans.banRange('10.0.0.0/8');
  client.addressBanned = true;
  ctx.closing = true;
  catalog.paused[0] = 1;
  ctx.inFlight.add(USER);

  t.equal(tryBuy(g).code, 'overloaded', 'shedding first');
  t.equal(client.userAsked, 0, 'the token is not read while the load checks refuse');
  ctx.lag.fields[1] = 0;
  t.equal(tryBuy(g).code, 'rate_limited', 'then the address rate');
  t.equal(client.userAsked, 0, 'still no token read');
  client.rateKey = 0;
  t.equal(tryBuy(g).code, 'unauthorized', 'then the token');
  t.equal(client.userAsked, 1, 'read once the load checks passed');
  client.userId = USER;
  t.equal(tryBuy(g).code, 'rate_limited', 'then the user rate');
  ctx.rateUser = null;
  t.equal(tryBuy(g).code, 'banned', 'then a user ban');
  t.equal(client.addressAsked, 0, 'the address is not asked before the user checks pass');
  ctx.bans.unbanUser(USER);
  t.equal(tryBuy(g).code, 'banned', 'then an address ban');
  t.equal(client.addressAsked, 1, 'asked once');
  client.addressBanned = false;
  t.equal(tryBuy(g, 'wrong').code, 'bad_ticket', 'then the item: the ticket');
  t.equal(tryBuy(g).code, 'shutting_down', 'then shutdown');
  ctx.closing = false;
  t.equal(tryBuy(g).code, 'paused', 'then a pause');
  catalog.paused[0] = 0;
  Atomics.store(catalog.left, 0, 0);
  t.equal(tryBuy(g).code, 'sold_out', 'then stock');
  Atomics.store(catalog.left, 0, 5);
  t.equal(tryBuy(g).code, 'rate_limited', 'then the user\'s buy in flight');
  ctx.inFlight.remove(USER);
  ctx.bans.unbanRange('10.0.0.0/8');
  const asked = client.addressAsked;
  t.same(tryBuy(g), { code: null, userId: USER }, 'every check passed: the user id');
  t.equal(client.addressAsked, asked, 'with no range banned the address is not asked');

  const refusals = (field: number): number => catalog.refusals[field]!;
  t.equal(refusals(REFUSAL.overloaded), 1, 'each refusal is counted on its item');
  t.equal(refusals(REFUSAL.rate_limited), 3);
  t.equal(refusals(REFUSAL.unauthorized), 1);
  t.equal(refusals(REFUSAL.banned), 2);
  for (const field of [REFUSAL.bad_ticket, REFUSAL.shutting_down, REFUSAL.paused, REFUSAL.sold_out]) {
    t.equal(refusals(field), 1);
  }
  t.equal(refusals(REFUSAL_FIELDS + REFUSAL.rate_limited), 0, 'and on no other item');
  t.equal(ctx.latency.count, 11, 'and in the latency histogram, as answered at once');
});

t.test('the item is checked before it starts and after it ends', async (t) => {
  const g = setup();
  g.catalog.items[0]!.startsAt = NOW + 1;
  t.equal(tryBuy(g).code, 'not_started');
  g.catalog.items[0]!.startsAt = NOW - 1000;
  g.catalog.items[0]!.endsAt = NOW;
  t.equal(tryBuy(g).code, 'ended');
});

t.test('admitAnswer checks the item again only when asked to, then the challenge', async (t) => {
  const g = setup();
  const reply = new RecordingReply();
  const ticket = g.catalog.tickets[1]!;
  g.catalog.paused[1] = 1;
  t.notOk(g.gate.admitAnswer(reply, 1, ticket, USER, undefined, undefined, NOW, true), 'the recheck sees the pause');
  t.same(reply.refusals, [{ code: 'paused', itemIndex: 1 }]);
  const unanswered = g.gate.admitAnswer(reply, 1, ticket, USER, undefined, undefined, NOW, false);
  t.notOk(unanswered, 'without it, the challenge refuses');
  t.same(reply.refusals[1], { code: 'challenge_failed', itemIndex: 1 });
  const issued = NOW - 1000;
  const nonce = 'abcdefghijklmnop';
  const challenge = `${issued}.${nonce}`;
  const answer = challengeAnswer(secret, 'quiz', USER, issued, nonce);
  t.ok(g.gate.admitAnswer(reply, 1, ticket, USER, challenge, answer, NOW, false), 'a right answer passes');
  t.notOk(g.gate.admitAnswer(reply, 1, ticket, USER, challenge, answer, NOW, false), 'once');
  t.equal(reply.refusals.length, 3, 'each refusal answered once');
  const plain = g.gate.admitAnswer(reply, 0, g.catalog.tickets[0]!, USER, undefined, undefined, NOW, true);
  t.ok(plain, 'an item without a challenge needs none');
});

t.test('claim takes the user\'s one buy in flight, and refuses rate_limited while another thread holds it',
  async (t) => {
  const g = setup();
  const reply = new RecordingReply();
  t.ok(g.gate.claim(reply, 1, USER, KEY_NONE), 'a free user is claimed');
  t.ok(g.ctx.inFlight.has(USER), 'and is in flight');
  // Another HTTP thread claimed the user between this thread's look and its claim.
  t.notOk(g.gate.claim(reply, 1, USER, KEY_NONE), 'a second claim is refused');
  t.same(reply.refusals, [{ code: 'rate_limited', itemIndex: 1 }], 'answered once, on its item');
  t.equal(g.catalog.refusals[REFUSAL_FIELDS + REFUSAL.rate_limited], 1, 'and counted there');
  g.ctx.inFlight.remove(USER);
  t.ok(g.gate.claim(reply, 1, USER, KEY_NONE), 'free again once the dispatcher gave it back');
});

/** A reply that records the answers a gate replays from an idempotency key, beside its refusals. */
class ReplayRecordingReply extends RecordingReply {
  readonly answers: { itemIndex: number; orderId: number; payBy: number }[] = [];
  override answer(_op: number, itemIndex: number, _outcome: Outcome, view: OrderView): void {
    this.answers.push({ itemIndex, orderId: view.orderId, payBy: view.payBy });
  }
}

t.test('a keyed buy: in flight is in_progress, another item key_reused, a kept win replayed after the sell-out',
  async (t) => {
  const g = setup();
  const key = 2 ** 50 + 3;
  const reply = new ReplayRecordingReply();
  t.ok(g.gate.claim(reply, 0, USER, key), 'the first buy begins its key and claims the user');
  t.equal(g.gate.admit(reply, null, 0, g.catalog.tickets[0]!, key, NOW), 0);
  t.equal(g.gate.admit(reply, null, 1, g.catalog.tickets[1]!, key, NOW), 0);
  t.same(reply.refusals.map((r) => r.code), ['in_progress', 'key_reused'], 'in flight, then another item');
  g.ctx.keys.finish(USER, key, OUTCOME.ok, 2 ** 33 + 1, NOW + 60_000);
  g.ctx.inFlight.remove(USER);
  Atomics.store(g.catalog.left, 0, 0);
  t.equal(g.gate.admit(reply, null, 0, g.catalog.tickets[0]!, key, NOW), 0, 'answered from the key');
  t.same(reply.answers, [{ itemIndex: 0, orderId: 2 ** 33 + 1, payBy: NOW + 60_000 }],
    'the win replayed, order and payBy, though the item sold out since');
  t.equal(tryBuy(g).code, 'sold_out', 'a buy without the key is told sold_out');
  t.equal(g.catalog.refusals[REFUSAL.in_progress], 1, 'in_progress counted on its item');
  t.equal(g.catalog.refusals[REFUSAL_FIELDS + REFUSAL.key_reused], 1, 'key_reused counted on its item');
});

t.test('a keyed claim: a full key table is overloaded; a user in flight is rate_limited and the key let go',
  async (t) => {
  const g = setup();
  const reply = new ReplayRecordingReply();
  const out = { outcome: 0, orderId: 0, payBy: 0 };
  t.ok(g.gate.claim(reply, 0, USER, 1), 'one keyed buy in flight');
  t.notOk(g.gate.claim(reply, 0, USER, 2), 'a second key of the same user while the first is in flight');
  t.equal(g.ctx.keys.look(USER, 2, 0, out), KEY_STATE.absent, 'gives its key back');
  g.ctx.keys.finish(USER, 1, OUTCOME.overloaded, 0, 0);
  g.ctx.inFlight.remove(USER);
  for (let other = 1; other <= g.ctx.keys.capacity; other++) g.ctx.keys.begin(1000 + other, 5, 0, out);
  t.notOk(g.gate.claim(reply, 0, USER, 3), 'a new key while the table is full');
  t.same(reply.refusals.map((r) => r.code), ['rate_limited', 'overloaded']);
  t.notOk(g.ctx.inFlight.has(USER), 'and the user is not left claimed');
});
