// Proves reserve mode: a won unit is held until paid; unpaid reservations
// expire after payWindowSec and cancelled ones return at once, and either
// way the unit comes back to stock exactly once, even when pay and expiry
// race at payBy, and across a kill -9 and restart. Stock coming back is
// observed the way shoppers see it: by how many new buyers can win.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t from 'tap';
import {
  MODES, buyPathOf, item, pool, readOrders, request, signToken, startEngine, tempDataDir, type EngineHandle,
} from '../helpers/engine-process';


/** How many of `count` new users win one unit each, all at once. */
async function newWinners(engine: EngineHandle, buyPath: string, firstUser: number,
  count: number): Promise<{ order: string; user: number }[]> {
  const replies = await pool(count, count, (i) =>
    request(engine.port, 'POST', buyPath, { token: signToken(firstUser + i) }));
  return replies.flatMap((r, i) => (r.status === 200 ? [{ order: r.json.order as string, user: firstUser + i }] : []));
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, cancel and expiry return each unit exactly once`, async (t) => {
    const dataDir = tempDataDir('reserve');
    const sale = [item('res', { stock: 3, mode: 'reserve', payWindowSec: 2 })];
    let engine = await startEngine({ dataDir, args: [...mode.args], sale });
    const buyPath = await buyPathOf(engine.port, 'res');

    const first = await newWinners(engine, buyPath, 100, 10);
    t.equal(first.length, 3, 'three of ten win a stock of three');
    const won = await request(engine.port, 'GET', `/api/orders/${first[0]!.order}`,
      { token: signToken(first[0]!.user) });
    t.equal(won.json.state, 'reserved');
    t.ok((won.json.payBy as number) - (won.json.createdAt as number) === 2000, 'payBy is createdAt + payWindowSec');

    const [a, b, c] = first as [typeof first[0], typeof first[0], typeof first[0]];
    const cancel1 = await request(engine.port, 'POST', `/api/orders/${a.order}/cancel`, { token: signToken(a.user) });
    const cancel2 = await request(engine.port, 'POST', `/api/orders/${a.order}/cancel`, { token: signToken(a.user) });
    t.equal(cancel1.json.state, 'cancelled', 'cancel answers the order, now cancelled');
    t.equal(cancel2.status, 200, 'a second cancel answers the same');
    t.equal(cancel2.json.state, 'cancelled');
    t.equal((await newWinners(engine, buyPath, 200, 10)).length, 1, 'the double cancel returned exactly one unit');

    const paid = await request(engine.port, 'POST', `/api/orders/${b.order}/pay`, { token: signToken(b.user) });
    t.equal(paid.json.state, 'paid', 'paying in time makes the order paid');
    t.equal((await request(engine.port, 'POST', `/api/orders/${b.order}/cancel`,
      { token: signToken(b.user) })).json.error, 'already_paid');
    t.equal((await request(engine.port, 'POST', `/api/orders/${a.order}/pay`, { token: signToken(a.user) })).status,
      409, 'a cancelled order cannot be paid');

    await sleep(2300);
    const late = await request(engine.port, 'POST', `/api/orders/${c.order}/pay`, { token: signToken(c.user) });
    t.equal(late.status, 410, 'paying after payBy is 410');
    t.equal(late.json.error, 'expired');
    t.equal((await request(engine.port, 'POST', `/api/orders/${c.order}/cancel`, { token: signToken(c.user) })).status,
      410, 'cancelling an expired order is 410');
    const afterExpiry = await newWinners(engine, buyPath, 300, 10);
    t.equal(afterExpiry.length, 2, 'the expired reservations (c and the re-won unit) returned exactly two units');

    await engine.kill();
    engine = await startEngine({ dataDir, args: [...mode.args], sale });
    t.equal((await request(engine.port, 'GET', `/api/orders/${b.order}`, { token: signToken(b.user) })).json.state,
      'paid', 'paid survives kill -9');
    t.equal((await request(engine.port, 'GET', `/api/orders/${c.order}`, { token: signToken(c.user) })).json.state,
      'expired', 'expired survives kill -9');
    t.equal((await request(engine.port, 'GET', `/api/orders/${a.order}`, { token: signToken(a.user) })).json.state,
      'cancelled', 'cancelled survives kill -9');
    await sleep(2300);
    t.equal((await newWinners(engine, buyPath, 400, 10)).length, 2,
      'reservations that expire after the restart return their units once');
    t.equal(await engine.stop(), 0);
    const orders = readOrders(dataDir);
    t.equal(orders.filter((o) => o.state === 1 || o.state === 2 || o.state === 3).length, 3,
      'SQLite: three units held at the end');
  });

  t.test(`with ${mode.name}, pay racing expiry at payBy ends each order paid or expired, never both`,
    async (t) => {
    const dataDir = tempDataDir('race');
    const engine = await startEngine({ dataDir, args: [...mode.args],
      sale: [item('race', { stock: 60, mode: 'reserve', payWindowSec: 1 })] });
    const buyPath = await buyPathOf(engine.port, 'race');
    const winners = await newWinners(engine, buyPath, 1000, 60);
    t.equal(winners.length, 60);
    await sleep(930);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 60 });
    // Each owner pays and cancels at nearly the moment of expiry, twice over.
    const replies = await pool(240, 60, (i) => {
      const w = winners[i % 60]!;
      return request(engine.port, 'POST', `/api/orders/${w.order}/${i < 120 ? 'pay' : 'cancel'}`,
        { token: signToken(w.user), agent });
    });
    agent.destroy();
    t.ok(replies.every((r) => [200, 409, 410].includes(r.status)), 'only paid, refused or expired answers');
    await sleep(1200);
    const finals = await pool(60, 20, (i) =>
      request(engine.port, 'GET', `/api/orders/${winners[i]!.order}`, { token: signToken(winners[i]!.user) }));
    const states = finals.map((f) => f.json.state as string);
    t.ok(states.every((s) => s === 'paid' || s === 'expired' || s === 'cancelled'),
      'each order ended paid, expired or cancelled');
    const held = states.filter((s) => s === 'paid').length;
    const regained = await newWinners(engine, buyPath, 5000, 80);
    t.equal(regained.length, 60 - held, `exactly the ${60 - held} unpaid units came back`);
    t.equal(await engine.stop(), 0);
    const orders = readOrders(dataDir);
    t.equal(orders.filter((o) => o.state === 2).length, held, 'SQLite agrees on the paid orders');
    t.equal(orders.filter((o) => [1, 2, 3].includes(o.state)).length, 60, 'and all 60 units are held at the end');
  });
}
