// A shard worker that dies (here: made to throw on its 300th request by the
// fault-injection variable, as a bug would) must fail loudly and lose
// nothing acknowledged: every request in flight is answered 503, the engine
// logs the death as fatal and stops with exit code 1 instead of limping on
// without the dead shard's items, and a restart on the same data directory
// finds every order that was acknowledged, on both shards, with the books
// balanced. Fails if a dead shard's requests hang, if the engine keeps
// serving, or if an acknowledged order is missing after the restart.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t from 'tap';
import {
  WORKER_MODES, buyPathOf, item, pool, readOrders, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

const STOCK = 5_000;
const FAULT_AT = 300;
const BUYS = 2_000;

for (const mode of WORKER_MODES) {
  t.test(`with ${mode.name}, ` +
    `a shard worker that throws: in-flight buys get 503, the engine stops with code 1, nothing acknowledged is lost`,
    async (t) => {
    const dataDir = tempDataDir('shard-death');
    // Item 0 ('a') lives on shard 0, item 1 ('b') on shard 1.
    const sale = [item('a', { stock: STOCK }), item('b', { stock: STOCK })];
    const engine = await startEngine({ dataDir, args: [...mode.args], sale,
      env: { FLASH_FAULT_SHARD_THROW: `0:${FAULT_AT}` } });
    t.ok(engine.lines.some((l) =>
      l.msg === 'FAULT INJECTION is set: a shard worker will throw on purpose (tests only)'),
      'the fault injection is logged at start-up');
    const paths = { a: await buyPathOf(engine.port, 'a'), b: await buyPathOf(engine.port, 'b') };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
    const acknowledged: { order: string; user: number; item: string }[] = [];
    const refusals = new Map<string, number>();
    let failedConnections = 0;
    await pool(BUYS, 40, async (index) => {
      const user = 1 + index;
      const itemId = index % 2 === 0 ? 'a' : 'b';
      try {
        const reply = await request(engine.port, 'POST', paths[itemId], { token: signToken(user), agent });
        if (reply.status === 200) acknowledged.push({ order: reply.json.order as string, user, item: itemId });
        else refusals.set(`${reply.status} ${reply.json.error}`,
          (refusals.get(`${reply.status} ${reply.json.error}`) ?? 0) + 1);
      } catch {
        failedConnections++; // after the engine stopped: never acknowledged
      }
    });
    agent.destroy();
    const code = await engine.exited;
    t.equal(code, 1, 'the engine stops with exit code 1');
    const fatal = engine.lines.find((l) => l.msg === 'shard worker died; failing in-flight requests and stopping');
    t.ok(fatal, 'the death is logged');
    t.equal(fatal?.shard, 0, 'naming the shard that died');
    t.ok((refusals.get('503 overloaded') ?? 0) >= 1,
      `the request the shard died on is answered 503 overloaded (${JSON.stringify(Object.fromEntries(refusals))})`);
    t.same([...refusals.keys()].filter((k) => k !== '503 overloaded' && k !== '503 shutting_down'), [],
      'no other refusal: the rest were wins');
    t.equal(acknowledged.length + [...refusals.values()].reduce((a, b) => a + b, 0) + failedConnections, BUYS,
      'every buy was answered or its connection failed: none hung');
    const wonOnA = acknowledged.filter((o) => o.item === 'a').length;
    t.ok(wonOnA < FAULT_AT, `shard 0 acknowledged fewer buys (${wonOnA}) than it was asked to decide before dying`);
    t.ok(acknowledged.some((o) => o.item === 'b'), 'shard 1 sold too');

    const restarted = await startEngine({ dataDir, args: [...mode.args], sale });
    try {
      const views = await pool(acknowledged.length, 40, (i) =>
        request(restarted.port, 'GET', `/api/orders/${acknowledged[i]!.order}`,
        { token: signToken(acknowledged[i]!.user) }));
      t.equal(views.filter((v) => v.status !== 200 || v.json.item !== acknowledged[views.indexOf(v)]!.item).length, 0,
        `all ${acknowledged.length} acknowledged orders are there after the restart, for their owners and items`);
      await sleep(300); // /api/items may be 250 ms stale
      const list = await request(restarted.port, 'GET', '/api/items');
      const left = Object.fromEntries((list.json.items as { id: string; left: number }[]).map((i) => [i.id, i.left]));
      const orders = readOrders(dataDir);
      for (const [id, row] of [['a', 1], ['b', 2]] as const) {
        t.equal(left[id]! + orders.filter((o) => o.item_row === row).length, STOCK,
          `${id}: units left plus orders equal stock`);
      }
      const bought = await request(restarted.port, 'POST', await buyPathOf(restarted.port, 'a'),
        { token: signToken(BUYS + 1) });
      t.equal(bought.status, 200, 'the restarted engine sells the dead shard\'s item again');
    } finally {
      await restarted.stop();
    }
  });
}
