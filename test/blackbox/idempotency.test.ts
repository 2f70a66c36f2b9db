// Proves idempotent buys (Idempotency-Key on HTTP, `key` on the WebSocket)
// against the real engine, under every thread layout of MODES: a retry of a
// won buy gets the same order and no second unit; 50 parallel sends of one
// key by one user make exactly one order (the others are told in_progress
// or get that order back); the key works across transports; the same key on
// another item is 422 key_reused; a malformed key is 400; a refusal is
// answered again the same. Then the engine is killed with kill -9 right
// after keyed wins, with more keyed buys in flight, and restarted on the
// same data directory: every retry gets its order back (the one it was
// told, when it was told one), and SQLite holds exactly one order per
// buyer, whether the first buy's answer arrived or was lost.

import http from 'node:http';
import t, { type Test } from 'tap';
import {
  buyPathOf, item, MODES, pool, readOrders, request, signToken, startEngine, tempDataDir, type EngineHandle,
  type Reply,
} from '../helpers/engine-process';
import { connectWs } from '../helpers/ws-client';

const KILL_BUYERS = 40;
/** Buyers whose keyed buys are in flight when the engine is killed: some answered, some not. */
const RACING_BUYERS = 200;
const RACING_FIRST_USER = 5000;

/** How long after the sale file is written the item `brief` ends: time to start the engine and buy. */
const BRIEF_MS = 6000;

function sale(): Record<string, unknown>[] {
  // perUserLimit 5: without its key, a retry would buy a second unit.
  return [item('a', { stock: 1000, perUserLimit: 5 }), item('b', { stock: 100, perUserLimit: 5 }),
    item('tiny', { stock: 1 }), item('brief', { stock: 10, endsAt: Date.now() + BRIEF_MS })];
}

function buy(engine: EngineHandle, path: string, user: number, key: string | null, agent?: http.Agent):
  Promise<Reply> {
  const headers: Record<string, string> = key === null ? {} : { 'idempotency-key': key };
  return request(engine.port, 'POST', path, { token: signToken(user), headers, agent });
}

async function retriesAndConflicts(t: Test, engine: EngineHandle, paths: Record<string, string>): Promise<void> {
  const first = await buy(engine, paths.a!, 101, '"retry-101"');
  t.equal(first.status, 200, 'a keyed buy wins');
  const again = await buy(engine, paths.a!, 101, '"retry-101"');
  t.equal(again.status, 200, 'its retry is answered 200');
  t.equal(again.json.order, first.json.order, 'with the same order id');
  t.equal(again.json.payBy, first.json.payBy, 'and the same payBy');
  const bare = await buy(engine, paths.a!, 101, 'retry-101');
  t.equal(bare.json.order, first.json.order, 'the key without its sf-string quotes is the same key');
  const reused = await buy(engine, paths.b!, 101, 'retry-101');
  t.same([reused.status, reused.json.error], [422, 'key_reused'], 'the same key on another item is 422');
  const otherUser = await buy(engine, paths.a!, 102, 'retry-101');
  t.equal(otherUser.status, 200, 'keys are per user: another user\'s same key is a buy of its own');
  t.not(otherUser.json.order, first.json.order);
  for (const bad of ['"unterminated', '""', 'has space', 'x'.repeat(65), '"q"uote"', 'semi;colon']) {
    const reply = await buy(engine, paths.a!, 103, bad);
    t.same([reply.status, reply.json.error], [400, 'bad_request'], `malformed key ${JSON.stringify(bad)} is 400`);
  }
  const noToken = await request(engine.port, 'POST', paths.a!, { headers: { 'idempotency-key': 'k' } });
  t.equal(noToken.status, 401, 'a keyed buy without a token is refused before its key is looked at');
}

async function refusalsReplayed(t: Test, engine: EngineHandle, paths: Record<string, string>): Promise<void> {
  const winner = await buy(engine, paths.tiny!, 201, 'tiny-201');
  t.equal(winner.status, 200, 'the one unit of tiny is won');
  const refused = await buy(engine, paths.tiny!, 202, 'tiny-202');
  t.same([refused.status, refused.json.error], [409, 'sold_out'], 'the next buyer is refused sold_out');
  const retried = await buy(engine, paths.tiny!, 202, 'tiny-202');
  t.same([retried.status, retried.json.error], [409, 'sold_out'], 'and its retry gets the same refusal');
  const won = await buy(engine, paths.tiny!, 201, 'tiny-201');
  t.same([won.status, won.json.order], [200, winner.json.order], 'the winner\'s retry after the sell-out still wins');
}

/** A kept answer outlives the sale: the retry of a win after endsAt gets its order, a new buy `ended`. */
async function afterTheEnd(t: Test, engine: EngineHandle, path: string, endsAt: number): Promise<void> {
  const won = await buy(engine, path, 501, 'brief-501');
  t.equal(won.status, 200, 'a keyed buy of brief wins before its end');
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, endsAt - Date.now()) + 50));
  const retry = await buy(engine, path, 501, 'brief-501');
  t.same([retry.status, retry.json.order], [200, won.json.order], 'its retry after the end gets the same order');
  const fresh = await buy(engine, path, 501, 'brief-502');
  t.same([fresh.status, fresh.json.error], [410, 'ended'], 'a buy with a new key after the end is 410 ended');
}

async function parallelSends(t: Test, engine: EngineHandle, paths: Record<string, string>): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const replies = await pool(50, 50, () => buy(engine, paths.a!, 301, 'parallel-301', agent));
  agent.destroy();
  const orders = new Set(replies.filter((r) => r.status === 200).map((r) => r.json.order));
  t.equal(orders.size, 1, '50 parallel sends of one key make exactly one order');
  const others = replies.filter((r) => r.status !== 200);
  t.ok(others.every((r) => r.status === 409 && r.json.error === 'in_progress'),
    `every other send is 200 with that order or 409 in_progress: ${JSON.stringify(others.map((r) => r.body))}`);
  const later = await buy(engine, paths.a!, 301, 'parallel-301');
  t.ok(later.status === 200 && orders.has(later.json.order), 'a later retry gets the order');
}

async function acrossTransports(t: Test, engine: EngineHandle, paths: Record<string, string>): Promise<void> {
  const ticket = paths.a!.split('/').pop()!;
  const ws = await connectWs(engine.port, { token: signToken(401) });
  ws.send({ op: 'buy', id: 1, item: 'a', ticket, key: 'ws-401' });
  const won = await ws.next((frame) => frame.id === 1);
  t.equal(won.result, 'won', 'a keyed buy over the WebSocket wins');
  ws.send({ op: 'buy', id: 2, item: 'a', ticket, key: 'ws-401' });
  const again = await ws.next((frame) => frame.id === 2);
  t.equal(again.order, won.order, 'its retry on the socket gets the same order');
  const overHttp = await buy(engine, paths.a!, 401, 'ws-401');
  t.equal(overHttp.json.order, won.order, 'and so does a retry over HTTP: one table for both transports');
  ws.send({ op: 'buy', id: 3, item: 'a', ticket, key: 'bad key' });
  const bad = await ws.next((frame) => frame.id === 3);
  t.equal(bad.error, 'bad_request', 'a malformed key in a frame is a bad frame');
  ws.send({ op: 'buy', id: 4, item: 'a', ticket, key: 7 });
  t.equal((await ws.next((frame) => frame.id === 4)).error, 'bad_request', 'so is a key that is not a string');
  ws.close();
}

/**
 * Keyed buys by KILL_BUYERS users, all answered; then RACING_BUYERS more,
 * and kill -9 once a few of those are answered, the rest in flight. The
 * orders told, by user (a racing buyer whose answer was lost has none).
 */
async function winThenKill(engine: EngineHandle, path: string): Promise<Map<number, string>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: KILL_BUYERS });
  const replies = await pool(KILL_BUYERS, KILL_BUYERS, (i) => buy(engine, path, 1000 + i, `kill-${1000 + i}`, agent));
  const told = new Map(replies.map((reply, i) => [1000 + i, reply.json.order as string]));
  let killing: Promise<void> | null = null;
  await pool(RACING_BUYERS, 50, async (i) => {
    const user = RACING_FIRST_USER + i;
    try {
      const reply = await buy(engine, path, user, `race-${user}`, agent);
      if (reply.status === 200) told.set(user, reply.json.order as string);
      if (told.size >= KILL_BUYERS + 20 && killing === null) killing = engine.kill();
    } catch {
      // In flight when the process died: the answer is lost, the buy may or may not have been decided.
    }
  });
  agent.destroy();
  await (killing ?? engine.kill());
  return told;
}

for (const mode of MODES) {
  t.test(`${mode.name}: keyed buys are answered once, and again the same after kill -9`, async (t) => {
    const dataDir = tempDataDir('idem');
    // The same sale file on restart, so the items (and their buy paths) are as they were.
    const items = sale();
    let engine = await startEngine({ dataDir, args: [...mode.args], sale: items });
    const paths = {
      a: await buyPathOf(engine.port, 'a'), b: await buyPathOf(engine.port, 'b'),
      tiny: await buyPathOf(engine.port, 'tiny'), brief: await buyPathOf(engine.port, 'brief'),
    };
    await retriesAndConflicts(t, engine, paths);
    await refusalsReplayed(t, engine, paths);
    await parallelSends(t, engine, paths);
    await afterTheEnd(t, engine, paths.brief, items.find((entry) => entry.id === 'brief')!.endsAt as number);
    await acrossTransports(t, engine, paths);
    const told = await winThenKill(engine, paths.a!);
    t.ok(Array.from({ length: KILL_BUYERS }, (_, i) => told.get(1000 + i)).every((order) => typeof order === 'string'),
      'every keyed buy before the race won');

    engine = await startEngine({ dataDir, args: [...mode.args], sale: items });
    const retries = await pool(KILL_BUYERS, 10, (i) => buy(engine, paths.a!, 1000 + i, `kill-${1000 + i}`));
    t.ok(retries.every((reply, i) => reply.status === 200 && reply.json.order === told.get(1000 + i)),
      'after kill -9 and a restart every retry gets the order it was told');
    const unanswered = Array.from({ length: RACING_BUYERS }, (_, i) => RACING_FIRST_USER + i)
      .filter((user) => !told.has(user)).length;
    t.comment(`${RACING_BUYERS - unanswered} racing buys answered before the kill, ${unanswered} not`);
    const racing = await pool(RACING_BUYERS, 20, (i) =>
      buy(engine, paths.a!, RACING_FIRST_USER + i, `race-${RACING_FIRST_USER + i}`));
    t.ok(racing.every((reply) => reply.status === 200), 'every retry of a buy in flight at the kill wins');
    t.ok(racing.every((reply, i) => !told.has(RACING_FIRST_USER + i)
      || reply.json.order === told.get(RACING_FIRST_USER + i)), 'with the order told before the kill, if one was');
    const replayed = await buy(engine, paths.a!, 101, 'retry-101');
    t.equal(replayed.status, 200, 'so does a key won before the earlier tests');
    t.equal(await engine.stop(), 0, 'SIGTERM exits 0');

    const orders = readOrders(dataDir);
    const perUser = new Map<number, number>();
    for (const order of orders.filter((o) => o.item_row === 1)) {
      perUser.set(order.user_id, (perUser.get(order.user_id) ?? 0) + 1);
    }
    const racers = Array.from({ length: RACING_BUYERS }, (_, i) => RACING_FIRST_USER + i);
    t.ok([...told.keys(), ...racers, 101, 301, 401].every((user) => perUser.get(user) === 1),
      'SQLite holds exactly one order of item a for each keyed buyer: no second unit');
    t.equal(orders.filter((o) => o.item_row === 1).length, KILL_BUYERS + RACING_BUYERS + 4,
      'and no other order of it');
  });
}
