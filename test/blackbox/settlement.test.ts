// Proves settlement and a second round: once an item has ended and its last
// reservation is paid, expired or cancelled, the engine writes the final
// report (sold, paid, expired, cancelled, revenue) and the winners as NDJSON
// into the data directory, once; an admin can then give the item a new
// round (new times, restock), which gets a new ticket, sells, and settles
// again under its own end. Updates of a live item are refused. Every answer
// on the way is checked (states of paid and cancelled orders), and each
// report is compared whole: every count, the round, the revenue and where
// its winners file is.

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, item, pool, request, signToken, startEngine, tempDataDir, type Reply,
} from '../helpers/engine-process';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** One JSON object per line of an NDJSON file. */
function readNdjson(file: string): Record<string, unknown>[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function waitForFile(file: string, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100))
    if (fs.existsSync(file)) return true;
  return false;
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, an ended item is settled once; a second round sells and settles again`, async (t) => {
    const dataDir = tempDataDir('settle');
    const startsAt = Date.now() - 1000;
    // Eight seconds: the engine's start (longer with more threads on a loaded
    // machine), three buys, a pay, a cancel and a refused update all come before the end.
    const endsAt = Date.now() + 8000;
    const sale = [item('drop', { stock: 3, price: 1500, mode: 'reserve', payWindowSec: 1, startsAt, endsAt })];
    const engine = await startEngine({ dataDir, args: [...mode.args], sale, env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    t.teardown(() => engine.stop());
    const ticket = (await request(engine.port, 'GET', '/api/items/drop/ticket')).json.buyPath as string;
    const won = (await pool(3, 3, (i) => request(engine.port, 'POST', ticket, { token: signToken(40 + i) })))
      .map((r, i) => ({ order: r.json.order as string, user: 40 + i }));
    t.equal(won.filter((w) => w.order).length, 3);
    const [payer, canceller] = [won[0]!, won[1]!];
    const answer = (reply: Reply): unknown[] => [reply.status, reply.json.order, reply.json.state];
    const paid = await request(engine.port, 'POST', `/api/orders/${payer.order}/pay`, { token: signToken(payer.user) });
    t.same(answer(paid), [200, payer.order, 'paid'], 'the first winner pays');
    const cancelPath = `/api/orders/${canceller.order}/cancel`;
    const cancelled = await request(engine.port, 'POST', cancelPath, { token: signToken(canceller.user) });
    t.same(answer(cancelled), [200, canceller.order, 'cancelled'], 'the second cancels');
    const live = await request(engine.port, 'PUT', '/admin/items/drop',
      { headers: admin, body: JSON.stringify({ perUserLimit: 2 }) });
    t.equal(live.status, 409, 'a live item cannot be updated');
    t.equal(live.json.error, 'item_live');

    const report1 = path.join(dataDir, 'settlement', `drop-${endsAt}-report.json`);
    t.ok(await waitForFile(report1, 12_000), 'the first round is settled after its end and its last reservation');
    const first = JSON.parse(fs.readFileSync(report1, 'utf8')) as Record<string, unknown>;
    const winnersFile1 = path.join(dataDir, 'settlement', `drop-${endsAt}-winners.ndjson`);
    t.ok(typeof first.settledAt === 'number' && first.settledAt >= endsAt, 'settled after the end');
    t.same({ ...first, settledAt: 0 }, {
      item: 'drop', round: { startsAt, endsAt }, settledAt: 0, stock: 3, sold: 1,
      paid: 1, confirmed: 0, expired: 1, cancelled: 1, unsold: 2, revenue: 1500, winnersFile: winnersFile1,
    }, 'the first report: one paid, one expired, one cancelled, two units unsold');
    const winners = fs.readFileSync(first.winnersFile as string, 'utf8').trim().split('\n').map((l) =>
      JSON.parse(l) as Record<string, unknown>);
    t.same(winners.map((w) => [w.order, w.user, w.state]), [[won[0]!.order, 40, 'paid']],
      'the winners file holds the paid order');
    await sleep(1200);
    t.equal(fs.readdirSync(path.join(dataDir, 'settlement')).filter((f) => f.endsWith('-report.json')).length, 1,
      'settled once');

    t.equal((await request(engine.port, 'PUT', '/admin/items/drop',
      { headers: admin, body: '{"stock":9}' })).status, 400,
      'stock is changed by restock, not update');
    const startsAt2 = Date.now() + 600;
    const endsAt2 = startsAt2 + 4000;
    const updated = await request(engine.port, 'PUT', '/admin/items/drop',
      { headers: admin, body: JSON.stringify({ startsAt: startsAt2, endsAt: endsAt2 }) });
    t.equal(updated.status, 200, 'a new round is scheduled after the end');
    t.equal(updated.json.state, 'upcoming');
    t.equal((await request(engine.port, 'POST', '/admin/items/drop/restock',
      { headers: admin, body: '{"add":2}' })).json.left, 4, 'restocked for the new round');
    await sleep(startsAt2 - Date.now() + 50);
    t.equal((await request(engine.port, 'POST', ticket, { token: signToken(60) })).json.error, 'bad_ticket',
      'the first round\'s ticket is void');
    const ticket2 = (await request(engine.port, 'GET', '/api/items/drop/ticket')).json.buyPath as string;
    const round2 = (await pool(6, 6, (i) => request(engine.port, 'POST', ticket2, { token: signToken(70 + i) })))
      .flatMap((r, i) => (r.status === 200 ? [{ order: r.json.order as string, user: 70 + i }] : []));
    t.equal(round2.length, 4, 'the second round sells the 4 units left');
    for (const w of round2) {
      const reply = await request(engine.port, 'POST', `/api/orders/${w.order}/pay`, { token: signToken(w.user) });
      t.same([reply.status, reply.json.state], [200, 'paid'], `user ${w.user} pays`);
    }
    const report2 = path.join(dataDir, 'settlement', `drop-${endsAt2}-report.json`);
    t.ok(await waitForFile(report2, 10_000), 'the second round is settled under its own end');
    const second = JSON.parse(fs.readFileSync(report2, 'utf8')) as Record<string, unknown>;
    t.ok(typeof second.settledAt === 'number' && second.settledAt >= endsAt2, 'settled after the second end');
    t.same({ ...second, settledAt: 0 }, {
      item: 'drop', round: { startsAt: startsAt2, endsAt: endsAt2 }, settledAt: 0, stock: 5, sold: 4, paid: 4,
      confirmed: 0,
      expired: 0, cancelled: 0, unsold: 0, revenue: 6000,
      winnersFile: path.join(dataDir, 'settlement', `drop-${endsAt2}-winners.ndjson`),
    }, 'the second report counts only the second round: four paid, nothing unsold');
    const winners2 = readNdjson(second.winnersFile as string).map((w) => [w.order, w.user, w.state, w.price]);
    t.same(winners2.sort(), round2.map((w) => [w.order, w.user, 'paid', 1500]).sort(),
      'the second winners file holds the four paid orders of the second round');
  });
}
