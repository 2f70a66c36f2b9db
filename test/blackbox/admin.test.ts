// Proves the admin API: it exists only with FLASH_ADMIN_TOKEN, refuses any
// other bearer; stats count orders by state and refusals by reason; pause
// refuses buys 503 paused until resume, and survives a restart; restock adds
// units at once on the owning shard (in both shard modes) and survives a
// restart; the order export streams exactly the orders won, filtered, as
// NDJSON or CSV, right after the buys; snapshots on demand; every action is
// in the audit log with who did it.

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'ops-alice' };

for (const mode of MODES) {
  t.test(`with ${mode.name}, without FLASH_ADMIN_TOKEN the admin API does not exist`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('noadmin'), args: [...mode.args], sale: [item('x')] });
    t.teardown(() => engine.stop());
    t.equal((await request(engine.port, 'GET', '/admin/stats', { headers: admin })).status, 404);
    t.ok(engine.lines.some((l) => String(l.msg).startsWith('admin API disabled')), 'and says so at start-up');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, admins see stats, pause, restock, export and snapshot`, async (t) => {
    const dataDir = tempDataDir('admin');
    const sale = [item('few', { stock: 2 }), item('res', { stock: 10, mode: 'reserve', perUserLimit: 2 }),
      item('later', { startsAt: Date.now() + 3_600_000 })];
    let engine = await startEngine({ dataDir, args: [...mode.args], sale,
      env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    t.equal((await request(engine.port, 'GET', '/admin/stats')).status, 401, 'no token: 401');
    t.equal((await request(engine.port, 'GET', '/admin/stats', { headers: { authorization: 'Bearer nope' } })).status,
      401, 'wrong token: 401');
    t.equal((await request(engine.port, 'GET', '/admin/stats',
      { headers: { authorization: `Basic ${ADMIN_TOKEN}` } })).status, 401,
      'the right token under another scheme: 401');
    t.equal((await request(engine.port, 'GET', '/admin/stats',
      { headers: { authorization: `bearer ${ADMIN_TOKEN}` } })).status, 200, 'the scheme is case-insensitive');

    const few = await buyPathOf(engine.port, 'few');
    const res = await buyPathOf(engine.port, 'res');
    const wins = (await pool(5, 5, (i) =>
      request(engine.port, 'POST', few, { token: signToken(10 + i) }))).filter((r) => r.status === 200);
    t.equal(wins.length, 2);
    const r1 = await request(engine.port, 'POST', res, { token: signToken(1) });
    await request(engine.port, 'POST', res, { token: signToken(1) });
    t.equal((await request(engine.port, 'POST', res, { token: signToken(1) })).json.error, 'limit_reached');
    await request(engine.port, 'POST', `/api/orders/${r1.json.order}/pay`, { token: signToken(1) });
    await request(engine.port, 'POST', '/api/buy/later/AAAAAAAAAAAAAAAAAAAAAA', { token: signToken(1) });
    await request(engine.port, 'POST', `/api/buy/res/AAAAAAAAAAAAAAAAAAAAAA`, { token: signToken(1) });

    const stats = await request(engine.port, 'GET', '/admin/stats', { headers: admin });
    t.equal(stats.status, 200);
    const byId = Object.fromEntries((stats.json.items as Record<string, any>[]).map((s) => [s.id, s]));
    t.match(byId.few, { stock: 2, left: 0, won: 2, confirmed: 2, refused: { sold_out: 3 } }, 'few: 2 won, 3 sold out');
    t.match(byId.res,
      { stock: 10, left: 8, won: 2, reserved: 1, paid: 1, refused: { limit_reached: 1, bad_ticket: 1 } },
      'res: orders by state, refusals by reason');
    t.match(byId.later, { state: 'upcoming', refused: { not_started: 1 } });

    const paused = await request(engine.port, 'POST', '/admin/items/res/pause', { headers: admin });
    t.equal(paused.json.paused, true);
    const refused = await request(engine.port, 'POST', res, { token: signToken(2) });
    t.equal(refused.status, 503, 'a paused item refuses buys 503');
    t.equal(refused.json.error, 'paused');
    t.equal(refused.headers['retry-after'], '1', 'with Retry-After');

    const restocked = await request(engine.port, 'POST', '/admin/items/few/restock',
      { headers: admin, body: '{"add":3}' });
    t.equal(restocked.status, 200);
    t.match(restocked.json, { id: 'few', stock: 5, left: 3 }, 'restock answers the item with its new stock, at once');
    for (const bad of ['{"add":0}', '{"add":-1}', '{"add":"3"}', 'nope', '{"add":1.5}']) {
      t.equal((await request(engine.port, 'POST', '/admin/items/few/restock', { headers: admin, body: bad })).status,
        400, `restock ${bad} is 400`);
    }
    const more = (await pool(6, 6, (i) =>
      request(engine.port, 'POST', few, { token: signToken(100 + i) }))).filter((r) => r.status === 200);
    t.equal(more.length, 3, 'exactly the three restocked units are won');

    const exported = await request(engine.port, 'GET', '/admin/orders', { headers: admin });
    t.equal(exported.status, 200);
    t.equal(exported.headers['content-type'], 'application/x-ndjson');
    const lines = exported.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    t.equal(lines.length, 7, 'every order, including those won a moment ago');
    t.same(new Set(lines.filter((l) => l.item === 'few').map((l) => l.order)),
      new Set([...wins, ...more].map((w) => w.json.order)), 'the very orders won');
    const paidCsv = await request(engine.port, 'GET', '/admin/orders?item=res&state=paid&format=csv',
      { headers: admin });
    t.equal(paidCsv.body.split('\n')[0], 'order,item,user,state,createdAt,payBy,updatedAt', 'CSV header');
    t.equal(paidCsv.body.trim().split('\n').length, 2, 'one paid order of res');
    t.match(paidCsv.body, new RegExp(`^${r1.json.order},res,1,paid,`, 'm'));
    t.equal((await request(engine.port, 'GET', '/admin/orders?state=bogus', { headers: admin })).status, 400);

    const snap = await request(engine.port, 'POST', '/admin/snapshot', { headers: admin });
    t.equal(snap.status, 200);
    t.ok(fs.existsSync(snap.json.path as string), 'the snapshot file exists');

    t.equal(await engine.stop(), 0);
    engine = await startEngine({ dataDir, args: [...mode.args], sale,
      env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    t.equal((await request(engine.port, 'POST', res, { token: signToken(3) })).json.error, 'paused',
      'pause survives a restart');
    await sleep(300);
    t.match((await request(engine.port, 'GET', '/api/items/few')).json, { stock: 5, left: 0 },
      'restock survives a restart (same sale file)');
    await request(engine.port, 'POST', '/admin/items/res/resume', { headers: admin });
    t.equal((await request(engine.port, 'POST', res, { token: signToken(3) })).status, 200, 'resume lets buys through');

    const actions = await request(engine.port, 'GET', '/admin/actions', { headers: admin });
    const names = (actions.json.actions as { action: string; actor: string }[]).map((a) => a.action);
    t.same(names.slice(0, 4), ['resume', 'snapshot', 'restock', 'pause'], 'the audit log, newest first');
    t.ok((actions.json.actions as { actor: string }[]).every((a) => a.actor === 'ops-alice'), 'with who did it');
    t.equal(await engine.stop(), 0);
  });
}
