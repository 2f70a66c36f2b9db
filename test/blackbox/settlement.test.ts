// Proves settlement and a second round: once an item has ended and its last
// reservation is paid, expired or cancelled, the engine writes the final
// report (sold, paid, expired, cancelled, revenue) and the winners as NDJSON
// into the data directory, once; an admin can then give the item a new
// round (new times, restock), which gets a new ticket, sells, and settles
// again under its own end. Updates of a live item are refused.

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ADMIN_TOKEN, item, pool, request, signToken, startEngine, tempDataDir } from '../helpers/engine-process';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function waitForFile(file: string, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) if (fs.existsSync(file)) return true;
  return false;
}

t.test('an ended item is settled once; a second round sells and settles again', async (t) => {
  const dataDir = tempDataDir('settle');
  const endsAt = Date.now() + 2500;
  const engine = await startEngine({ dataDir, sale: [item('drop', { stock: 3, price: 1500, mode: 'reserve', payWindowSec: 1, endsAt })], env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
  t.teardown(() => engine.stop());
  const ticket = (await request(engine.port, 'GET', '/api/items/drop/ticket')).json.buyPath as string;
  const won = (await pool(3, 3, (i) => request(engine.port, 'POST', ticket, { token: signToken(40 + i) }))).map((r, i) => ({ order: r.json.order as string, user: 40 + i }));
  t.equal(won.filter((w) => w.order).length, 3);
  await request(engine.port, 'POST', `/api/orders/${won[0]!.order}/pay`, { token: signToken(won[0]!.user) });
  await request(engine.port, 'POST', `/api/orders/${won[1]!.order}/cancel`, { token: signToken(won[1]!.user) });
  const live = await request(engine.port, 'PUT', '/admin/items/drop', { headers: admin, body: JSON.stringify({ perUserLimit: 2 }) });
  t.equal(live.status, 409, 'a live item cannot be updated');
  t.equal(live.json.error, 'item_live');

  const report1 = path.join(dataDir, 'settlement', `drop-${endsAt}-report.json`);
  t.ok(await waitForFile(report1, 6000), 'the first round is settled after its end and its last reservation');
  const first = JSON.parse(fs.readFileSync(report1, 'utf8')) as Record<string, unknown>;
  t.match(first, { item: 'drop', stock: 3, sold: 1, paid: 1, expired: 1, cancelled: 1, unsold: 2, revenue: 1500 });
  const winners = fs.readFileSync(first.winnersFile as string, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(winners.map((w) => [w.order, w.user, w.state]), [[won[0]!.order, 40, 'paid']], 'the winners file holds the paid order');
  await sleep(1200);
  t.equal(fs.readdirSync(path.join(dataDir, 'settlement')).filter((f) => f.endsWith('-report.json')).length, 1, 'settled once');

  t.equal((await request(engine.port, 'PUT', '/admin/items/drop', { headers: admin, body: '{"stock":9}' })).status, 400, 'stock is changed by restock, not update');
  const startsAt2 = Date.now() + 600;
  const endsAt2 = startsAt2 + 2000;
  const updated = await request(engine.port, 'PUT', '/admin/items/drop', { headers: admin, body: JSON.stringify({ startsAt: startsAt2, endsAt: endsAt2 }) });
  t.equal(updated.status, 200, 'a new round is scheduled after the end');
  t.equal(updated.json.state, 'upcoming');
  t.equal((await request(engine.port, 'POST', '/admin/items/drop/restock', { headers: admin, body: '{"add":2}' })).json.left, 4, 'restocked for the new round');
  await sleep(startsAt2 - Date.now() + 50);
  t.equal((await request(engine.port, 'POST', ticket, { token: signToken(60) })).json.error, 'bad_ticket', 'the first round\'s ticket is void');
  const ticket2 = (await request(engine.port, 'GET', '/api/items/drop/ticket')).json.buyPath as string;
  const round2 = (await pool(6, 6, (i) => request(engine.port, 'POST', ticket2, { token: signToken(70 + i) }))).flatMap((r, i) => (r.status === 200 ? [{ order: r.json.order as string, user: 70 + i }] : []));
  t.equal(round2.length, 4, 'the second round sells the 4 units left');
  for (const w of round2) await request(engine.port, 'POST', `/api/orders/${w.order}/pay`, { token: signToken(w.user) });
  const report2 = path.join(dataDir, 'settlement', `drop-${endsAt2}-report.json`);
  t.ok(await waitForFile(report2, 6000), 'the second round is settled under its own end');
  t.match(JSON.parse(fs.readFileSync(report2, 'utf8')), { sold: 4, paid: 4, expired: 0, cancelled: 0, stock: 5, unsold: 0, revenue: 6000 });
});
