// An HTTP thread that dies (here: made to throw on its 200th request to a
// shard by the fault-injection variable, as a bug would) must fail loudly
// and lose nothing acknowledged: the engine logs the death as fatal and
// stops with exit code 1 instead of limping on with its users' buys left
// claimed, and a restart on the same data directory finds every order that
// was acknowledged, whichever thread acknowledged it. Fails if the engine
// keeps serving, if it hangs, or if an acknowledged order is missing.

import http from 'node:http';
import t from 'tap';
import {
  buyPathOf, item, pool, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

const ARGS = ['--workers', '2', '--http-threads', '2'];
const BUYS = 3_000;

t.test('an HTTP thread that throws: the engine stops with code 1, nothing acknowledged is lost', async (t) => {
  const dataDir = tempDataDir('http-thread-death');
  const sale = [item('a', { stock: 10_000 }), item('b', { stock: 10_000 })];
  const engine = await startEngine({ dataDir, args: ARGS, sale, env: { FLASH_FAULT_HTTP_THREAD_THROW: '200' } });
  t.ok(engine.lines.some((l) => l.msg === 'FAULT INJECTION is set: HTTP thread 1 will throw on purpose (tests only)'),
    'the fault injection is logged at start-up');
  const paths = { a: await buyPathOf(engine.port, 'a'), b: await buyPathOf(engine.port, 'b') };
  // Many connections, so that the kernel hands some to each thread.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
  const acknowledged: { order: string; user: number; item: string }[] = [];
  let refused = 0;
  let failedConnections = 0;
  await pool(BUYS, 40, async (index) => {
    const user = 1 + index;
    const itemId = index % 2 === 0 ? 'a' : 'b';
    try {
      const reply = await request(engine.port, 'POST', paths[itemId], { token: signToken(user), agent });
      if (reply.status === 200) acknowledged.push({ order: reply.json.order as string, user, item: itemId });
      else refused++;
    } catch {
      failedConnections++; // the dead thread's connections, and every one after the stop
    }
  });
  agent.destroy();
  t.equal(await engine.exited, 1, 'the engine stops with exit code 1');
  const fatal = engine.lines.find((l) => l.msg === 'HTTP thread died; stopping');
  t.ok(fatal, 'the death is logged');
  t.equal(fatal?.thread, 'http-1', 'naming the thread');
  t.ok(failedConnections >= 1, `connections on the dead thread failed (${failedConnections})`);
  t.equal(acknowledged.length + refused + failedConnections, BUYS, 'every buy was answered or failed: none hung');
  t.ok(acknowledged.length >= 200, `buys were acknowledged before the death (${acknowledged.length})`);

  const restarted = await startEngine({ dataDir, args: ARGS, sale });
  try {
    const views = await pool(acknowledged.length, 20, (i) => request(restarted.port, 'GET',
      `/api/orders/${acknowledged[i]!.order}`, { token: signToken(acknowledged[i]!.user) }));
    const missing = views.filter((v, i) => v.status !== 200 || v.json.item !== acknowledged[i]!.item).length;
    t.equal(missing, 0, `all ${acknowledged.length} acknowledged orders are there after the restart`);
  } finally {
    t.equal(await restarted.stop(), 0, 'the restarted engine stops cleanly');
  }
});
