// Proves the durability guarantee: an order acknowledged to a shopper is
// never lost, even when the engine dies by kill -9 in the middle of a sale
// with requests in flight. A crowd buys two items (order and reserve mode);
// the engine is killed once enough wins were acknowledged; it is restarted on
// the same data directory with the same sale file (which must not reset what
// was sold), and every acknowledged order must be there, for its owner, with
// units left plus units held equal to stock. A second kill and a restart
// in another thread layout repeat the check: the inline shard to two shard
// workers fed by two HTTP threads and back, and one HTTP thread to two, so
// that a log written by one layout is replayed by each other kind.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t, { type Test } from 'tap';
import {
  buyPathOf, item, pool, readOrders, request, signToken, startEngine, tempDataDir, modeNamed,
  type EngineHandle,
} from '../helpers/engine-process';

const STOCK = { big: 3000, res: 800 } as const;
const HOLDING_STATES = new Set([1, 2, 3]);

interface Acknowledged { order: string; user: number; item: string }

/** Buys with distinct users until `killAfter` wins are acknowledged, then kills the engine with requests in flight. */
async function buyThenKill(engine: EngineHandle, firstUser: number, killAfter: number): Promise<Acknowledged[]> {
  const paths = { big: await buyPathOf(engine.port, 'big'), res: await buyPathOf(engine.port, 'res') };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  const acknowledged: Acknowledged[] = [];
  let killing: Promise<void> | null = null;
  await pool(20_000, 100, async (index) => {
    if (killing) return;
    const user = firstUser + index;
    const itemId = index % 4 === 0 ? 'res' : 'big';
    try {
      const reply = await request(engine.port, 'POST', paths[itemId], { token: signToken(user), agent });
      if (reply.status === 200) acknowledged.push({ order: reply.json.order as string, user, item: itemId });
      if (acknowledged.length >= killAfter && !killing) killing = engine.kill();
    } catch {
      // Requests in flight when the process died fail; they were never acknowledged.
    }
  });
  agent.destroy();
  if (killing) await killing;
  else await engine.kill();
  return acknowledged;
}

async function checkRecovered(t: Test, engine: EngineHandle, acknowledged: Acknowledged[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const views = await pool(acknowledged.length, 50, (i) =>
    request(engine.port, 'GET', `/api/orders/${acknowledged[i]!.order}`,
    { token: signToken(acknowledged[i]!.user), agent }));
  agent.destroy();
  const missing = views.filter((v) => v.status !== 200 || !['confirmed', 'reserved'].includes(v.json.state as string));
  t.equal(missing.length, 0, `all ${acknowledged.length} acknowledged orders survive, for their owners`);
  t.ok(views.every((v, i) => v.json.item === acknowledged[i]!.item), 'each order is for the item it was won on');
}

function checkBooks(t: Test, dataDir: string, left: Record<string, number>): void {
  const orders = readOrders(dataDir);
  for (const [id, row] of [['big', 1], ['res', 2]] as const) {
    const held = orders.filter((o) => o.item_row === row && HOLDING_STATES.has(o.state)).length;
    t.equal(left[id]! + held, STOCK[id], `${id}: units left (${left[id]}) plus units held (${held}) equal stock`);
  }
  t.equal(new Set(orders.map((o) => o.id)).size, orders.length, 'order ids are unique');
  const perUser = new Map<string, number>();
  for (const o of orders) perUser.set(`${o.item_row}/${o.user_id}`,
    (perUser.get(`${o.item_row}/${o.user_id}`) ?? 0) + 1);
  t.ok([...perUser.values()].every((n) => n === 1), 'no user holds two units of an item');
}

async function leftOf(engine: EngineHandle): Promise<Record<string, number>> {
  // /api/items may be 250 ms stale; wait it out so the numbers are exact.
  await sleep(300);
  const list = await request(engine.port, 'GET', '/api/items');
  return Object.fromEntries((list.json.items as { id: string; left: number }[]).map((i) => [i.id, i.left]));
}

/** Each pair is the layout killed twice, then the layout restarted in. */
const SWITCHES = [
  [modeNamed('--workers 0'), modeNamed('--workers 2 --http-threads 2')],
  [modeNamed('--workers 2 --http-threads 2'), modeNamed('--workers 0')],
  [modeNamed('--workers 2'), modeNamed('--workers 2 --http-threads 2')],
] as const;

for (const [first, second] of SWITCHES) {
  t.test(`kill -9 mid-sale with ${first.name}, restart with ${first.name} then ${second.name}: ` +
    'no acknowledged order is lost', async (t) => {
    const dataDir = tempDataDir('crash');
    const sale = [item('big', { stock: STOCK.big }),
      item('res', { stock: STOCK.res, mode: 'reserve', payWindowSec: 3600 })];
    let engine = await startEngine({ dataDir, args: [...first.args], sale });
    const firstRound = await buyThenKill(engine, 1_000_000, 400);
    t.ok(firstRound.length >= 400, `${firstRound.length} orders acknowledged before the kill`);

    engine = await startEngine({ dataDir, args: [...first.args], sale });
    t.ok(engine.lines.some((l) => l.msg === 'write-behind log replayed into SQLite'), 'start-up replays the log');
    await checkRecovered(t, engine, firstRound);
    const secondRound = await buyThenKill(engine, 2_000_000, 300);

    engine = await startEngine({ dataDir, args: [...second.args], sale });
    const all = [...firstRound, ...secondRound];
    await checkRecovered(t, engine, all);
    t.equal(new Set(all.map((a) => a.order)).size, all.length, 'order ids stay unique across restarts');
    const left = await leftOf(engine);
    t.equal(await engine.stop(), 0, 'SIGTERM exits 0');
    checkBooks(t, dataDir, left);
  });
}
