// Proves item create and delete through the admin API while the engine
// runs, in both shard modes: a created item is sold at once by the shard
// that owns it and survives a restart; a duplicate or invalid item is
// refused naming the field; an item is deleted only when it is not live and
// never sold, and a deleted item is gone from every route and stays gone.
// A create and a delete of the same item sent at once are each answered
// exactly: the create 201, the delete 200 when it came second or 404
// unknown_item when it came first (then a second delete removes the item).

import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

for (const mode of MODES) {
  t.test(`with ${mode.name}, admins create and delete items while the engine runs`, async (t) => {
    const dataDir = tempDataDir('items');
    const sale = [item('a', { stock: 5 }), item('b', { stock: 5 }), item('c', { stock: 5 })];
    let engine = await startEngine({ dataDir, args: [...mode.args], sale,
      env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    const fresh = { id: 'fresh', name: 'Fresh item', price: 700, stock: 4, startsAt: Date.now() - 1000,
      perUserLimit: 1 };
    const created = await request(engine.port, 'POST', '/admin/items', { headers: admin, body: JSON.stringify(fresh) });
    t.equal(created.status, 201);
    t.match(created.json, { id: 'fresh', stock: 4, left: 4, state: 'live' });
    const buyPath = await buyPathOf(engine.port, 'fresh');
    const replies = await pool(6, 6, (i) => request(engine.port, 'POST', buyPath, { token: signToken(300 + i) }));
    const wins = replies.flatMap((r, i) =>
      (r.status === 200 ? [{ order: r.json.order as string, user: 300 + i }] : []));
    t.equal(wins.length, 4, 'the new item sells exactly its stock at once');

    const duplicate = await request(engine.port, 'POST', '/admin/items',
      { headers: admin, body: JSON.stringify(fresh) });
    t.equal(duplicate.status, 409);
    t.equal(duplicate.json.error, 'item_exists');
    const invalid = await request(engine.port, 'POST', '/admin/items',
      { headers: admin, body: JSON.stringify({ ...fresh, id: 'other', stock: -2 }) });
    t.equal(invalid.status, 400);
    t.match(invalid.json.message, /field "stock"/, 'the refusal names the field');

    const future = { id: 'future', name: 'Later', price: 1, stock: 2, startsAt: Date.now() + 3_600_000 };
    t.equal((await request(engine.port, 'POST', '/admin/items',
      { headers: admin, body: JSON.stringify(future) })).status, 201);
    const sold = await request(engine.port, 'DELETE', '/admin/items/fresh', { headers: admin });
    t.equal(sold.status, 409, 'an item that sold units cannot be deleted');
    t.equal((await request(engine.port, 'DELETE', '/admin/items/a', { headers: admin })).json.error, 'item_live',
      'nor a live one');
    const gone = await request(engine.port, 'DELETE', '/admin/items/future', { headers: admin });
    t.equal(gone.status, 200);
    t.equal((await request(engine.port, 'GET', '/api/items/future')).status, 404, 'a deleted item is gone');
    t.notOk(((await request(engine.port, 'GET', '/api/items')).json.items as { id: string }[]).some((i) =>
      i.id === 'future'), 'from the list too');

    // Created and deleted at once, before a worker shard has even taken the item: nothing may break.
    for (let i = 0; i < 20; i++) {
      const id = `quick-${i}`;
      const quick = { id, name: 'Quick', price: 1, stock: 1, startsAt: Date.now() + 3_600_000 };
      const [create, remove] = await Promise.all([
        request(engine.port, 'POST', '/admin/items', { headers: admin, body: JSON.stringify(quick) }),
        request(engine.port, 'DELETE', `/admin/items/${id}`, { headers: admin }),
      ]);
      t.same([create.status, create.json.id, create.json.state], [201, id, 'upcoming'], `${id} is created`);
      if (remove.status === 200) {
        t.same(remove.json, { deleted: id }, `${id}: the delete that came second removed it`);
      } else {
        const answer = [remove.status, remove.json.error];
        t.same(answer, [404, 'unknown_item'], `${id}: the delete that came first found no item`);
        const again = await request(engine.port, 'DELETE', `/admin/items/${id}`, { headers: admin });
        t.same([again.status, again.json], [200, { deleted: id }], `${id}: a second delete removes it`);
      }
      t.equal((await request(engine.port, 'GET', `/api/items/${id}`)).status, 404, `${id} is gone`);
    }
    const list = (await request(engine.port, 'GET', '/api/items')).json.items as { id: string }[];
    const listed = list.map((i) => i.id).sort();
    t.same(listed, ['a', 'b', 'c', 'fresh'], 'no quick item is left in the list');
    t.equal((await request(engine.port, 'GET', '/readyz')).status, 200,
      'every thread is still alive after quick creates and deletes');
    t.equal(await engine.stop(), 0);
    engine = await startEngine({ dataDir, args: [...mode.args], sale,
      env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    t.teardown(() => engine.stop());
    await sleep(300);
    t.match((await request(engine.port, 'GET', '/api/items/fresh')).json, { stock: 4, left: 0 },
      'the created item and its sales survive a restart');
    t.equal((await request(engine.port, 'GET', '/api/items/future')).status, 404, 'the deleted item stays deleted');
    const order = await request(engine.port, 'GET', `/api/orders/${wins[0]!.order}`,
      { token: signToken(wins[0]!.user) });
    t.equal(order.status, 200, 'an order of the created item is there for its owner');
    t.equal(order.json.item, 'fresh');
  });
}
