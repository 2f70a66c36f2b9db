// Proves the waitlist against the real engine, under every thread layout: 20
// distinct users joining a sold-out item at once get places 1..20, each
// once; joining again answers the same place; a cancel gives its unit to
// place 1 as a reservation with its own payBy while a buyer who polls gets
// sold_out; an offer that expires unpaid passes to the next place; many
// reservations expiring at once, with cancels racing the expiry, offer each
// returned unit to exactly one place, in order; a restock serves the places
// first; the WebSocket pushes `served`; the refusals answer their codes.
// Then kill -9, with joins in flight and after offers, and a restart: every
// acknowledged place and offer is there, and SQLite's orders hold exactly
// stock - left units of each item, with no place offered twice.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, request, signToken, startEngine, tempDataDir, type EngineHandle,
  type Reply,
} from '../helpers/engine-process';
import { connectWs } from '../helpers/ws-client';
import { databaseFile } from '../../persistence/data-directory';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const HOLDING_STATES = '(1, 2, 3)';

const join = (engine: EngineHandle, itemId: string, user: number, agent?: http.Agent): Promise<Reply> =>
  request(engine.port, 'POST', `/api/items/${itemId}/waitlist`, { token: signToken(user), agent });
const place = (engine: EngineHandle, itemId: string, user: number, agent?: http.Agent): Promise<Reply> =>
  request(engine.port, 'GET', `/api/items/${itemId}/waitlist`, { token: signToken(user), agent });

/** Buys one unit for each user, in turn; returns the order ids. */
async function buyEach(engine: EngineHandle, itemId: string, users: number[]): Promise<string[]> {
  const buyPath = await buyPathOf(engine.port, itemId);
  const orders: string[] = [];
  for (const user of users) {
    const reply = await request(engine.port, 'POST', buyPath, { token: signToken(user) });
    if (reply.status !== 200) throw new Error(`buy of ${itemId} by ${user}: ${reply.status} ${reply.body}`);
    orders.push(reply.json.order as string);
  }
  return orders;
}

/** Polls the user's place until `done` holds, at most `timeoutMs`; returns the last answer. */
async function placeUntil(engine: EngineHandle, itemId: string, user: number, done: (reply: Reply) => boolean,
  timeoutMs = 15_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await place(engine, itemId, user);
    if (done(reply) || Date.now() > deadline) return reply;
    await sleep(100);
  }
}

const offered = (reply: Reply): boolean => reply.json.state === 'offered';

/** The item's units held and its waitlist rows, read from SQLite after the engine stopped. */
function sqliteBook(dataDir: string, itemId: string): { stock: number; held: number;
  places: { place: number; user_id: number; order_id: number | null }[]; offerUsers: number[] } {
  const db = new Database(databaseFile(dataDir), { readonly: true });
  try {
    const { row, stock } = db.prepare('SELECT row, stock FROM items WHERE id = ?').get(itemId) as
      { row: number; stock: number };
    const { held } = db.prepare(`SELECT COUNT(*) AS held FROM orders WHERE item_row = ? AND state IN ${HOLDING_STATES}`)
      .get(row) as { held: number };
    const places = db.prepare('SELECT place, user_id, order_id FROM waitlist WHERE item_row = ? ORDER BY place')
      .all(row) as { place: number; user_id: number; order_id: number | null }[];
    const offerUsers = places.filter((p) => p.order_id !== null).map((p) =>
      (db.prepare('SELECT user_id FROM orders WHERE id = ?').get(p.order_id) as { user_id: number }).user_id);
    return { stock, held, places, offerUsers };
  } finally {
    db.close();
  }
}

async function leftOf(engine: EngineHandle, itemId: string): Promise<number> {
  // /api/items may be 250 ms stale.
  await sleep(300);
  return (await request(engine.port, 'GET', `/api/items/${itemId}`)).json.left as number;
}

async function refusals(t: Test, engine: EngineHandle): Promise<void> {
  t.equal((await request(engine.port, 'POST', '/api/items/wl/waitlist')).status, 401, 'no token: 401');
  t.equal((await join(engine, 'nope', 1)).json.error, 'unknown_item');
  const early = await join(engine, 'wl', 1);
  t.same([early.status, early.json.error], [409, 'not_sold_out'], 'units left: buy instead');
  const plain = await join(engine, 'plain', 1);
  t.same([plain.status, plain.json.error], [409, 'no_waitlist']);
  const later = await join(engine, 'later', 1);
  t.same([later.status, later.json.error], [403, 'not_started']);
  const none = await place(engine, 'wl', 1);
  t.same([none.status, none.json.error], [404, 'not_waiting']);
  const plainPlace = await place(engine, 'plain', 1);
  t.same([plainPlace.status, plainPlace.json.error], [409, 'no_waitlist']);
  const items = (await request(engine.port, 'GET', '/api/items')).json.items as { id: string; waitlist: boolean }[];
  t.same(items.filter((i) => i.waitlist).map((i) => i.id).sort(), ['later', 'race', 'rs', 'wl', 'wlx'],
    'the item object says which items have a waitlist');
  const orderMode = await request(engine.port, 'POST', '/admin/items', { headers: admin,
    body: JSON.stringify(item('ordwl', { waitlist: true })) });
  t.equal(orderMode.status, 400, 'a waitlist in order mode is refused');
  t.match(orderMode.json.message, /waitlist/);
}

async function joinsAndCancel(t: Test, engine: EngineHandle): Promise<void> {
  const [first] = await buyEach(engine, 'wl', [1, 2, 3]);
  const holder = await join(engine, 'wl', 1);
  t.same([holder.status, holder.json.error], [409, 'limit_reached'], 'a user holding the limit cannot wait');
  const users = Array.from({ length: 20 }, (_, i) => 100 + i);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const joined = await pool(users.length, 20, (i) => join(engine, 'wl', users[i]!, agent));
  agent.destroy();
  t.ok(joined.every((reply) => reply.status === 200 && reply.json.state === 'waiting'), 'all 20 joins are answered');
  const places = joined.map((reply) => reply.json.place as number);
  t.same([...places].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1),
    'places 1..20, each given once');
  t.ok(joined.every((reply) => reply.json.ahead === (reply.json.place as number) - 1), 'ahead = place - 1');
  const again = await join(engine, 'wl', users[7]!);
  t.same([again.status, again.json.place], [200, places[7]], 'joining again answers the same place');
  const firstUser = users[places.indexOf(1)]!;
  const secondUser = users[places.indexOf(2)]!;
  const socket = await connectWs(engine.port, { token: signToken(firstUser) });
  t.teardown(() => socket.close());
  const before = Date.now();
  t.equal((await request(engine.port, 'POST', `/api/orders/${first}/cancel`, { token: signToken(1) })).status, 200);
  const buyPath = await buyPathOf(engine.port, 'wl');
  t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(500) })).json.error, 'sold_out',
    'a buyer who polls gets nothing: the unit went to place 1');
  const offer = await place(engine, 'wl', firstUser);
  t.same([offer.json.state, offer.json.place], ['offered', 1]);
  const order = await request(engine.port, 'GET', `/api/orders/${offer.json.order as string}`,
    { token: signToken(firstUser) });
  t.equal(order.json.state, 'reserved', 'the offer is a reservation of place 1\'s user');
  t.ok((order.json.payBy as number) >= before + 600_000 && (order.json.payBy as number) <= Date.now() + 600_000,
    'with a pay window of its own');
  const push = await socket.next((f) => f.op === 'waitlist' && f.item === 'wl');
  t.equal(push.served, 1, 'the WebSocket pushes served = 1');
  const next = await place(engine, 'wl', secondUser);
  t.same([next.json.state, next.json.ahead], ['waiting', 0], 'place 2 is first now');
  t.equal(await leftOf(engine, 'wl'), 0, 'left stays 0 while anyone waits');
}

async function expiryPasses(t: Test, engine: EngineHandle): Promise<void> {
  await buyEach(engine, 'wlx', [1, 2]);
  for (const user of [200, 201, 202]) t.equal((await join(engine, 'wlx', user)).json.place, user - 199);
  // The two reservations expire after 1 s: places 1 and 2 get offers, which expire 1 s later in turn.
  const third = await placeUntil(engine, 'wlx', 202, offered);
  t.equal(third.json.state, 'offered', 'an expired offer passes to place 3');
  const firstOffer = await place(engine, 'wlx', 200);
  const expired = await request(engine.port, 'GET', `/api/orders/${firstOffer.json.order as string}`,
    { token: signToken(200) });
  t.equal(expired.json.state, 'expired', 'place 1\'s offer expired unpaid');
  const left = async (): Promise<number> => leftOf(engine, 'wlx');
  const deadline = Date.now() + 10_000;
  while (await left() !== 2 && Date.now() < deadline) await sleep(200);
  t.equal(await left(), 2, 'once nobody waits and the offers expired, both units are for sale again');
}

/** 30 reservations expiring at once, 15 of them cancelled around their payBy, with 40 places waiting. */
async function expiryRaces(t: Test, engine: EngineHandle): Promise<void> {
  const buyers = Array.from({ length: 30 }, (_, i) => 1000 + i);
  const buyPath = await buyPathOf(engine.port, 'race');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 30 });
  const won = await pool(30, 30, (i) => request(engine.port, 'POST', buyPath, { token: signToken(buyers[i]!), agent }));
  t.ok(won.every((reply) => reply.status === 200), 'the 30 units are reserved');
  const waiters = Array.from({ length: 40 }, (_, i) => 2000 + i);
  const joined = await pool(40, 40, (i) => join(engine, 'race', waiters[i]!, agent));
  t.ok(joined.every((reply) => reply.status === 200), '40 places');
  const payBy = Math.max(...won.map((reply) => reply.json.payBy as number));
  await sleep(Math.max(0, payBy - Date.now() - 30));
  const cancels = await pool(15, 15, (i) => request(engine.port, 'POST',
    `/api/orders/${won[i]!.json.order as string}/cancel`, { token: signToken(buyers[i]!), agent }));
  t.ok(cancels.every((reply) => reply.status === 200 || reply.json.error === 'expired'),
    'each cancel either cancels or finds the reservation expired');
  // Places went by arrival, not by waiter: read them all until 30 are offered (the sweep runs every 100 ms).
  const deadline = Date.now() + 15_000;
  let views = await pool(40, 20, (i) => place(engine, 'race', waiters[i]!, agent));
  while (views.filter(offered).length < 30 && Date.now() < deadline) {
    await sleep(100);
    views = await pool(40, 20, (i) => place(engine, 'race', waiters[i]!, agent));
  }
  agent.destroy();
  const byPlace = new Map(views.map((reply) => [reply.json.place as number, reply]));
  const offers = views.filter(offered);
  t.ok(offers.length >= 30, `all 30 returned units reached places: ${offers.length} places offered`);
  t.equal(new Set(offers.map((reply) => reply.json.order)).size, offers.length, 'each offer is its own order');
  for (let p = 1; p <= offers.length; p++) t.ok(byPlace.get(p) && offered(byPlace.get(p)!), `place ${p} offered`);
}

async function restockServes(t: Test, engine: EngineHandle): Promise<void> {
  await buyEach(engine, 'rs', [1]);
  await join(engine, 'rs', 400);
  await join(engine, 'rs', 401);
  const restocked = await request(engine.port, 'POST', '/admin/items/rs/restock', { headers: admin,
    body: JSON.stringify({ add: 3 }) });
  t.same([restocked.status, restocked.json.stock, restocked.json.left], [200, 4, 1], 'two units to places, one left');
  t.ok(offered(await place(engine, 'rs', 401)), 'place 2 got a restocked unit');
}

function checkBook(t: Test, dataDir: string, itemId: string, left: number): void {
  const book = sqliteBook(dataDir, itemId);
  t.equal(left + book.held, book.stock, `${itemId}: left (${left}) + held (${book.held}) == stock (${book.stock})`);
  const offers = book.places.filter((p) => p.order_id !== null);
  t.equal(new Set(offers.map((p) => p.order_id)).size, offers.length, `${itemId}: no order offered twice`);
  t.same(book.offerUsers, offers.map((p) => p.user_id), `${itemId}: each offer is the place's user's order`);
  t.same(book.places.map((p) => p.place), book.places.map((_, i) => i + 1), `${itemId}: places have no gap`);
}

function sale(): Record<string, unknown>[] {
  const reserve = { mode: 'reserve', waitlist: true };
  return [
    item('wl', { ...reserve, stock: 3, payWindowSec: 600 }),
    item('wlx', { ...reserve, stock: 2, payWindowSec: 1 }),
    item('race', { ...reserve, stock: 30, payWindowSec: 2 }),
    item('rs', { ...reserve, stock: 1, payWindowSec: 600 }),
    item('later', { ...reserve, startsAt: Date.now() + 3_600_000 }),
    item('plain', { mode: 'reserve', stock: 5 }),
  ];
}

for (const mode of MODES) {
  t.test(`${mode.name}: places in order, offers to the head, pushes and refusals`, async (t) => {
    const dataDir = tempDataDir('waitlist');
    const engine = await startEngine({ dataDir, args: [...mode.args], sale: sale(),
      env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    let stopped = false;
    t.teardown(() => (stopped ? undefined : engine.kill()));
    await t.test('refusals', (t) => refusals(t, engine));
    await t.test('20 joins at once, then a cancel serves place 1', (t) => joinsAndCancel(t, engine));
    await t.test('an expired offer passes on', (t) => expiryPasses(t, engine));
    await t.test('expiry races', (t) => expiryRaces(t, engine));
    await t.test('a restock serves places first', (t) => restockServes(t, engine));
    const left = Object.fromEntries(await Promise.all(['wl', 'wlx', 'race', 'rs'].map(async (id) =>
      [id, await leftOf(engine, id)] as const)));
    await engine.stop();
    stopped = true;
    for (const id of ['wl', 'wlx', 'race', 'rs']) checkBook(t, dataDir, id, left[id]!);
  });

  t.test(`${mode.name}: kill -9 keeps every acknowledged place and offer`, async (t) => {
    const dataDir = tempDataDir('waitlist-kill');
    const items = [item('k', { mode: 'reserve', waitlist: true, stock: 2, payWindowSec: 600 })];
    const first = await startEngine({ dataDir, args: [...mode.args], sale: items });
    const orders = await buyEach(first, 'k', [1, 2]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
    const acknowledged = new Map<number, number>();
    let killing: Promise<void> | null = null;
    await pool(300, 40, async (i) => {
      if (killing) return;
      try {
        const reply = await join(first, 'k', 300 + i, agent);
        if (reply.status === 200) acknowledged.set(300 + i, reply.json.place as number);
        if (acknowledged.size >= 20 && !killing) killing = first.kill();
      } catch {
        // A join in flight when the process died was never acknowledged.
      }
    });
    agent.destroy();
    if (killing) await killing;
    else await first.kill();
    t.ok(acknowledged.size >= 20 && acknowledged.size < 300,
      `${acknowledged.size} of 300 joins acknowledged: kill -9 came with joins in flight`);

    const second = await startEngine({ dataDir, args: [...mode.args], sale: items });
    const kept = await pool(acknowledged.size, 20, (i) => place(second, 'k', [...acknowledged.keys()][i]!));
    t.ok(kept.every((reply, i) => reply.json.place === [...acknowledged.values()][i]),
      'every acknowledged place is kept after kill -9');
    const head = [...acknowledged.entries()].find(([, p]) => p === 1)![0];
    t.equal((await request(second.port, 'POST', `/api/orders/${orders[0]!}/cancel`, { token: signToken(1) })).status,
      200);
    const offer = await place(second, 'k', head);
    t.same([offer.json.state, offer.json.place], ['offered', 1], 'the cancel after the restart serves place 1');
    await second.kill();

    const third = await startEngine({ dataDir, args: [...mode.args], sale: items });
    t.teardown(() => third.stop());
    const again = await place(third, 'k', head);
    t.same([again.json.state, again.json.order, again.json.payBy], ['offered', offer.json.order, offer.json.payBy],
      'the offer is kept after kill -9: same order, same payBy');
    const order = await request(third.port, 'GET', `/api/orders/${offer.json.order as string}`,
      { token: signToken(head) });
    t.equal(order.json.state, 'reserved');
    const secondPlace = [...acknowledged.entries()].find(([, p]) => p === 2);
    if (secondPlace) t.same((await place(third, 'k', secondPlace[0])).json.ahead, 0, 'place 2 is next');
    const left = await leftOf(third, 'k');
    t.equal(left, 0, 'nothing for sale while places wait');
    await third.stop();
    checkBook(t, dataDir, 'k', left);
  });
}
