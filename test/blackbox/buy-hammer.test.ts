// Proves the central guarantee under concurrency: never more winners than
// stock and never more than perUserLimit per user, whatever the concurrency
// and the number of worker threads. 5,000 distinct users each try twice to
// buy an item of stock 100 over 200 concurrent keep-alive connections; then
// the engine is stopped and its SQLite file is read back.

import http from 'node:http';
import t from 'tap';
import {
  MODES, buyPathOf, item, pool, readOrders, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

const USERS = 5_000;
const ATTEMPTS = 2;
const CONNECTIONS = 200;
const STOCK = 100;

for (const mode of MODES) {
  t.test(`with ${mode.name}, 5,000 users x 2 attempts on stock 100 give exactly 100 distinct winners`,
    async (t) => {
    const dataDir = tempDataDir('hammer');
    const engine = await startEngine({ dataDir, args: [...mode.args], sale: [item('hot', { stock: STOCK })] });
    const buyPath = await buyPathOf(engine.port, 'hot');
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const tokens = Array.from({ length: USERS }, (_, i) => signToken(1000 + i));
    const replies = await pool(USERS * ATTEMPTS, CONNECTIONS, (index) =>
      request(engine.port, 'POST', buyPath, { token: tokens[index % USERS]!, agent }));
    agent.destroy();

    const winners = new Map<string, number>();
    const statuses = new Map<string, number>();
    replies.forEach((reply, index) => {
      const key = reply.status === 200 ? 'won' : `${reply.status} ${reply.json.error}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (reply.status === 200) winners.set(reply.json.order as string, 1000 + (index % USERS));
    });
    t.equal(winners.size, STOCK, 'exactly as many distinct orders as stock');
    t.equal(new Set(winners.values()).size, STOCK, 'each winner is a different user');
    const refusals = [...statuses.keys()].filter((k) => k !== 'won');
    t.ok(refusals.every((k) => k === '409 sold_out' || k === '409 limit_reached'),
      `only sold_out and limit_reached refusals: ${JSON.stringify([...statuses])}`);

    const items = await request(engine.port, 'GET', '/api/items/hot');
    t.equal(items.json.left, 0, 'nothing left');
    t.equal(items.json.state, 'sold_out');

    t.equal(await engine.stop(), 0, 'SIGTERM exits 0');
    const orders = readOrders(dataDir);
    t.equal(orders.length, STOCK, 'SQLite holds exactly the acknowledged orders');
    t.same(new Set(orders.map((o) => String(o.id))), new Set(winners.keys()),
      'the same order ids as were acknowledged');
    t.equal(new Set(orders.map((o) => o.user_id)).size, STOCK, 'one order per user in SQLite');
  });
}
