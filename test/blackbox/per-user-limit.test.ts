// Proves the per-user limit: with perUserLimit 2 a user's buys give won, won,
// limit_reached, in sequence and when one user fires many buys at once (then
// some are refused rate_limited: one buy in flight per user), in both the
// inline and the worker-thread mode.

import http from 'node:http';
import t from 'tap';
import { MODES, buyPathOf, item, pool, request, signToken, startEngine, tempDataDir } from '../helpers/engine-process';

for (const mode of MODES) {
  t.test(`with ${mode.name}, the per-user limit holds`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('limit'), args: [...mode.args],
      sale: [item('pair', { stock: 1000, perUserLimit: 2 })] });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'pair');

    const token = signToken(42);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await request(engine.port, 'POST', buyPath, { token }));
    t.same(results.map((r) => r.json.result ?? r.json.error), ['won', 'won', 'limit_reached'],
      'won, won, limit_reached');
    t.equal(results[2]!.status, 409);
    t.not(results[0]!.json.order, results[1]!.json.order, 'two different orders');

    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const burst = await pool(100, 50, () => request(engine.port, 'POST', buyPath, { token: signToken(43), agent }));
    agent.destroy();
    t.equal(burst.filter((r) => r.status === 200).length, 2,
      'a burst of 100 concurrent buys by one user wins exactly 2');
    // The rest are limit_reached, or rate_limited when they came while one of the user's buys was in flight.
    t.equal(burst.filter((r) => r.json.error === 'limit_reached' || r.json.error === 'rate_limited').length, 98,
      'the rest are limit_reached or rate_limited (one buy in flight)');

    const view = await request(engine.port, 'GET', '/api/items/pair');
    t.equal(view.json.left, 1000 - 4, 'four units sold');
  });
}
