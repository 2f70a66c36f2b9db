// Proves the sale-day restart runbook (docs/operations.md, "Restart and upgrade"): stop
// the engine with SIGTERM in the middle of a sale while buyers keep coming,
// start it again on the same data directory and sale file, and nothing
// acknowledged is lost, nothing is sold twice, and sales resume at once.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t from 'tap';
import {
  WORKER_MODES, buyPathOf, item, pool, readOrders, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

for (const mode of WORKER_MODES) {
  t.test(`with ${mode.name}, ` +
    `SIGTERM mid-sale, then start again: every acknowledged order is kept and sales resume`, async (t) => {
    const dataDir = tempDataDir('runbook');
    const sale = [item('drop', { stock: 2000 })];
    let engine = await startEngine({ dataDir, args: [...mode.args], sale });
    const buyPath = await buyPathOf(engine.port, 'drop');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const acknowledged: { order: string; user: number }[] = [];
    const refusals = new Map<string, number>();
    let stopping: Promise<number | null> | null = null;
    await pool(3000, 50, async (i) => {
      try {
        const reply = await request(engine.port, 'POST', buyPath, { token: signToken(10_000 + i), agent });
        if (reply.status === 200) acknowledged.push({ order: reply.json.order as string, user: 10_000 + i });
        else refusals.set(`${reply.status} ${reply.json.error}`,
          (refusals.get(`${reply.status} ${reply.json.error}`) ?? 0) + 1);
      } catch { /* the connection closed under the request: it was never acknowledged */ }
      if (acknowledged.length >= 300 && !stopping) stopping = engine.stop();
    });
    agent.destroy();
    t.equal(await stopping, 0, 'SIGTERM mid-sale exits 0');
    t.ok([...refusals.keys()].every((k) => k === '503 shutting_down'),
      `buys during the stop are refused 503 shutting_down (${JSON.stringify([...refusals])})`);
    const stored = new Set(readOrders(dataDir).map((o) => String(o.id)));
    t.ok(acknowledged.every((a) => stored.has(a.order)),
      `all ${acknowledged.length} acknowledged orders are in SQLite`);
    t.equal(stored.size, acknowledged.length,
      'and no order that was not acknowledged (SIGTERM answers what it accepted)');

    engine = await startEngine({ dataDir, args: [...mode.args], sale });
    t.teardown(() => engine.stop());
    const resumed = await pool(20, 10, (i) => request(engine.port, 'POST', buyPath, { token: signToken(50_000 + i) }));
    t.equal(resumed.filter((r) => r.status === 200).length, 20, 'sales resume at once after the restart');
    const sample = acknowledged.slice(0, 20);
    const views = await Promise.all(sample.map((a) =>
      request(engine.port, 'GET', `/api/orders/${a.order}`, { token: signToken(a.user) })));
    t.ok(views.every((v) => v.status === 200 && v.json.state === 'confirmed'),
      'orders from before the stop are there for their owners');
    await sleep(300);
    t.equal((await request(engine.port, 'GET', '/api/items/drop')).json.left, 2000 - acknowledged.length - 20,
      'left counts every unit sold before and after');
  });
}
