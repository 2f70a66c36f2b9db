// Proves the sale-day scripts do what an operator relies on, by running them
// as child processes (`node scripts/<name>`) against the real engine:
// each answers --help naming its flags and refuses a bad flag with exit 2;
// issue-token's tokens buy from the engine and a missing or short secret is
// refused without being echoed; `sale check` passes a good file, fails a bad
// one naming the item and the field, and with --data refuses a stock below
// the units already held without changing the directory; `snapshot` makes a
// running engine write a file and fails without one, never signalling a
// process that is not the engine; `restore` rebuilds a data directory from a
// snapshot on which the engine starts with every order for its owner and the
// snapshot's stock left, and it never overwrites a database.

import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, modeNamed, readOrders, request, signToken, startEngine, tempDataDir,
  USER_SECRET, writeSaleFile,
  type EngineHandle,
} from '../helpers/engine-process';
import { digestDataDir, readSegments, rewindPersister, runScript } from '../helpers/script-process';


const FLAGS: Record<string, string[]> = {
  'issue-token': ['--user', '--first-user', '--count', '--ttl-sec'],
  sale: ['check', '--data'],
  snapshot: ['--data', '--wait-ms'],
  restore: ['--snapshot', '--data'],
  reconcile: ['--data', '--json'],
  'flag-table': ['--docs', '--check'],
};

/** A value a flag of each script refuses, to see exit 2 naming that flag. */
const BAD_VALUES: Record<string, string[]> = {
  'issue-token': ['--ttl-sec', 'soon'],
  sale: ['check', 'x.json', '--data'],
  snapshot: ['--wait-ms', '-5'],
  restore: ['--snapshot'],
  reconcile: ['--json=yes'],
  'flag-table': ['--docs'],
};

t.test('every script answers --help naming its flags, and refuses an unknown flag or a bad value ' +
  'with exit 2 naming the flag', async (t) => {
  for (const [name, flags] of Object.entries(FLAGS)) {
    const help = await runScript(name, ['--help']);
    t.equal(help.code, 0, `${name} --help exits 0`);
    for (const flag of [...flags, '--help']) t.match(help.stdout, flag, `${name} --help names ${flag}`);
    const unknown = await runScript(name, ['--colour', 'red']);
    t.equal(unknown.code, 2, `${name} --colour exits 2`);
    t.match(unknown.stderr, /unknown flag --colour/, `${name} names the unknown flag`);
    const bad = await runScript(name, BAD_VALUES[name]!);
    const flag = BAD_VALUES[name]!.find((arg) => arg.startsWith('--'))!.replace(/=.*/, '');
    t.equal(bad.code, 2, `${name} ${BAD_VALUES[name]!.join(' ')} exits 2`);
    t.match(bad.stderr, flag, `${name} names ${flag} in "${bad.stderr.trim()}"`);
  }
});

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `issue-token prints tokens the engine accepts, and refuses a missing or short secret without printing it`,
    async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('tokens'), args: [...mode.args],
      sale: [item('tok', { stock: 5 })] });
    t.teardown(() => engine.stop());
    const many = await runScript('issue-token', ['--first-user', '7000', '--count', '3', '--ttl-sec', '600'],
      { FLASH_USER_SECRET: USER_SECRET });
    t.equal(many.code, 0);
    const tokens = many.stdout.trim().split('\n');
    t.equal(tokens.length, 3, 'one token per line');
    t.ok(tokens.every((token, i) => token.startsWith(`v1.${7000 + i}.`)), 'for users 7000, 7001, 7002');
    const buyPath = await buyPathOf(engine.port, 'tok');
    for (const [i, token] of tokens.entries()) {
      const won = await request(engine.port, 'POST', buyPath, { token });
      t.equal(won.json.result, 'won', `the token of user ${7000 + i} buys`);
      const order = await request(engine.port, 'GET', `/api/orders/${won.json.order as string}`, { token });
      t.equal(order.json.user, 7000 + i, 'and the order is that user\'s');
    }
    const one = await runScript('issue-token', ['--user', '42'], { FLASH_USER_SECRET: USER_SECRET });
    t.equal(one.stdout.trim().split('\n').length, 1, '--user prints one token');
    t.equal((await request(engine.port, 'POST', buyPath, { token: one.stdout.trim() })).json.result, 'won',
      'which buys too');
    const forged = await runScript('issue-token', ['--user', '43'],
      { FLASH_USER_SECRET: 'another-secret-that-is-long-enough-0123456789' });
    t.equal((await request(engine.port, 'POST', buyPath, { token: forged.stdout.trim() })).status, 401,
      'a token signed with another secret is refused');

    const missing = await runScript('issue-token', ['--user', '1'], { FLASH_USER_SECRET: undefined });
    t.equal(missing.code, 2, 'no FLASH_USER_SECRET exits 2');
    t.match(missing.stderr, /FLASH_USER_SECRET is not set/);
    t.equal(missing.stdout, '', 'and prints no token');
    const short = await runScript('issue-token', ['--user', '1'],
      { FLASH_USER_SECRET: 'short-secret-31-bytes-long-xxxx' });
    t.equal(short.code, 2, 'a secret of 31 bytes exits 2');
    t.match(short.stderr, /at least 32 bytes/);
    t.notMatch(short.stderr + short.stdout, 'short-secret', 'the secret is not echoed');
    t.equal((await runScript('issue-token', ['--user', '1'],
      { FLASH_USER_SECRET: 'short-secret-32-bytes-long-xxxxx' })).code, 0, 'a secret of 32 bytes is enough');
    const both = await runScript('issue-token', ['--user', '1', '--count', '2'], { FLASH_USER_SECRET: USER_SECRET });
    t.equal(both.code, 2, '--count without --first-user exits 2');
    t.match(both.stderr, /--count/);
  });
}

t.test('sale check passes a good file and prints each item as the engine reads it; ' +
  'a bad file fails naming the item and the field', async (t) => {
  const dir = tempDataDir('salecheck');
  const good = writeSaleFile(dir, [
    item('phone-x', { stock: 100, startsAt: '2026-11-23T10:00:00Z' }),
    item('shoe',
      { stock: 7, mode: 'reserve', perUserLimit: 2, startsAt: 1795428000000, endsAt: '2026-11-24T10:00:00+01:00' }),
  ]);
  const passed = await runScript('sale', ['check', good]);
  t.equal(passed.code, 0, 'a good file exits 0');
  t.match(passed.stdout,
    'item "phone-x" (items[0]): stock 100, mode order, perUserLimit 1, startsAt 2026-11-23T10:00:00.000Z, ' +
    'endsAt 2026-11-23T11:00:00.000Z', 'defaults filled in, times in ISO');
  t.match(passed.stdout,
    'item "shoe" (items[1]): stock 7, mode reserve, perUserLimit 2, startsAt 2026-11-23T10:00:00.000Z, ' +
    'endsAt 2026-11-24T09:00:00.000Z');
  t.match(passed.stdout, /valid/);

  const bad = writeSaleFile(dir, [item('fine'), item('broken', { stock: -1 })]);
  const failed = await runScript('sale', ['check', bad]);
  t.equal(failed.code, 1, 'a bad file exits 1');
  t.match(failed.stderr, /item "broken" \(items\[1\]\): field "stock" must be an integer/,
    'naming the item and the field, as the engine does');
  const unknownField = writeSaleFile(dir, [item('odd', { colour: 'red' })]);
  t.match((await runScript('sale', ['check', unknownField])).stderr,
    /item "odd" \(items\[0\]\): field "colour" is not a known field/);
  const duplicate = writeSaleFile(dir, [item('twin'), item('twin')]);
  t.match((await runScript('sale', ['check', duplicate])).stderr, /item "twin" \(items\[1\]\): field "id" duplicates/);
  const absent = await runScript('sale', ['check', path.join(dir, 'absent.json')]);
  t.equal(absent.code, 1);
  t.match(absent.stderr, /cannot read/);
  t.equal((await runScript('sale', ['verify', good])).code, 2, 'an unknown action exits 2');
  t.equal((await runScript('sale', ['check'])).code, 2, 'check without a file exits 2');
});

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `sale check --data refuses a stock below the units held (the unapplied log included) and changes nothing`,
    async (t) => {
    const dataDir = tempDataDir('salecheckdata');
    const loaded = writeSaleFile(dataDir, [item('keep', { stock: 10 }), item('other', { stock: 3 })]);
    const engine = await startEngine({ dataDir, args: [...mode.args, '--sale', loaded] });
    const buyPath = await buyPathOf(engine.port, 'keep');
    for (let user = 1; user <= 6; user++) t.equal((await request(engine.port, 'POST', buyPath,
      { token: signToken(300 + user) })).status, 200);
    // Killed, not stopped, and the persister rewound by three wins: those are
    // only in the log, as after a crash, and the check must count them as start-up would.
    await sleep(300);
    await engine.kill();
    const [segment] = readSegments(dataDir);
    rewindPersister(dataDir, segment!, 3);
    t.equal(readOrders(dataDir).length, 3, 'SQLite alone holds three of the six orders');
    const before = digestDataDir(dataDir);

    const files = tempDataDir('salefiles');
    const lower = writeSaleFile(files, [item('keep', { stock: 5 })]);
    const refused = await runScript('sale', ['check', lower, '--data', dataDir]);
    t.equal(refused.code, 1, 'a stock below the units held exits 1');
    t.match(refused.stderr, /item "keep" \(items\[0\]\): field "stock" is 5 but 6 units are already sold or reserved/,
      'with the engine\'s message');
    const enough = writeSaleFile(files, [item('keep', { stock: 6 }), item('fresh', { stock: 1 })]);
    const accepted = await runScript('sale', ['check', enough, '--data', dataDir]);
    t.equal(accepted.code, 0, 'a stock equal to the units held passes');
    t.match(accepted.stdout, /item "keep": will be updated \(row 1\): stock 6 >= 6 units held/);
    t.match(accepted.stdout, /item "fresh": new/);
    const same = await runScript('sale', ['check', loaded, '--data', dataDir]);
    t.equal(same.code, 0);
    t.match(same.stdout, /item "keep": unchanged since it was last loaded/,
      'the file last loaded is recognised, as start-up does');
    t.equal(digestDataDir(dataDir), before, 'the database and the log are unchanged');
    const nowhere = await runScript('sale', ['check', loaded, '--data', tempDataDir('empty')]);
    t.equal(nowhere.code, 2, 'a --data without a database exits 2');
    t.match(nowhere.stderr, /--data/);
  });
}

/** A pid that is certainly not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, snapshot makes the running engine write a snapshot and prints its path; ` +
    'with no engine it exits 1 and signals nothing else', async (t) => {
    const dataDir = tempDataDir('snapscript');
    const engine = await startEngine({ dataDir, args: [...mode.args], sale: [item('s', { stock: 50 })] });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 's');
    for (let user = 1; user <= 4; user++) await request(engine.port, 'POST', buyPath, { token: signToken(500 + user) });
    const taken = await runScript('snapshot', ['--data', dataDir]);
    t.equal(taken.code, 0, taken.stderr);
    const file = taken.stdout.trim();
    t.equal(path.dirname(file), path.join(dataDir, 'snapshots'), 'the file is in DIR/snapshots');
    const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as { shards: {
      items: { id: string; left: number; orders: unknown[] }[] }[] };
    const s = snap.shards.flatMap((shard) => shard.items).find((i) => i.id === 's')!;
    t.equal(s.orders.length, 4, 'it holds the orders sold before it');
    t.equal(s.left, 46);
    await sleep(5);
    const again = await runScript('snapshot', ['--data', dataDir, '--wait-ms', '5000']);
    t.equal(again.code, 0);
    t.not(again.stdout.trim(), file, 'a second run prints the second, new file');

    const none = await runScript('snapshot', ['--data', tempDataDir('noengine')]);
    t.equal(none.code, 1, 'no pid file exits 1');
    t.match(none.stderr, /no engine/);
    const staleDir = tempDataDir('stalepid');
    fs.writeFileSync(path.join(staleDir, 'engine.pid'), `${await deadPid()}\n`);
    const stale = await runScript('snapshot', ['--data', staleDir]);
    t.equal(stale.code, 1, 'a pid file naming a dead process exits 1');
    t.match(stale.stderr, /not running/);
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    t.teardown(() => bystander.kill('SIGKILL'));
    const otherDir = tempDataDir('otherpid');
    fs.writeFileSync(path.join(otherDir, 'engine.pid'), `${bystander.pid}\n`);
    const other = await runScript('snapshot', ['--data', otherDir, '--wait-ms', '200']);
    t.equal(other.code, 1, 'a pid file naming a process that is not the engine exits 1');
    t.match(other.stderr, /not the engine; nothing sent/);
    await sleep(100);
    t.equal(bystander.exitCode, null, 'and that process was not sent SIGUSR2 (whose default action would kill it)');
  });
}

interface Bought { order: string; user: number; item: string; state: string }

async function buy(engine: EngineHandle, itemId: string, user: number): Promise<Bought> {
  const reply = await request(engine.port, 'POST', await buyPathOf(engine.port, itemId), { token: signToken(user) });
  if (reply.status !== 200) throw new Error(`buy ${itemId} for ${user}: ${reply.status} ${reply.body}`);
  return { order: reply.json.order as string, user, item: itemId, state: itemId === 'res' ? 'reserved' : 'confirmed' };
}

// The snapshot is taken in one layout with shard workers and restored into
// another, so that a snapshot's shards are never simply the restored engine's.
const RESTORES = [
  [modeNamed('--workers 2'), modeNamed('--workers 2 --http-threads 2')],
  [modeNamed('--workers 2 --http-threads 2'), modeNamed('--workers 0')],
] as const;

for (const [from, to] of RESTORES) {
  t.test(`restore rebuilds a data directory from a snapshot taken with ${from.name}: the engine starts on it ` +
    `with ${to.name}, with every order for its owner and the snapshot's stock left`, async (t) => {
    const dataDir = tempDataDir('restorefrom');
    let engine = await startEngine({ dataDir, args: [...from.args], sale: [
      item('ord', { stock: 20, perUserLimit: 2 }),
      item('res', { stock: 10, mode: 'reserve', payWindowSec: 3600 }),
    ] });
    const bought: Bought[] = [];
    for (let user = 1; user <= 5; user++) bought.push(await buy(engine, 'ord', 1000 + user));
    bought.push(await buy(engine, 'ord', 1001));
    for (let user = 1; user <= 4; user++) bought.push(await buy(engine, 'res', 2000 + user));
    const [paid, cancelled] = bought.filter((b) => b.item === 'res') as [Bought, Bought];
    t.equal((await request(engine.port, 'POST', `/api/orders/${paid.order}/pay`,
      { token: signToken(paid.user) })).json.state, 'paid');
    paid.state = 'paid';
    t.equal((await request(engine.port, 'POST', `/api/orders/${cancelled.order}/cancel`,
      { token: signToken(cancelled.user) })).json.state, 'cancelled');
    cancelled.state = 'cancelled';
    const taken = await runScript('snapshot', ['--data', dataDir]);
    t.equal(taken.code, 0, taken.stderr);
    const snapshotFile = taken.stdout.trim();
    t.equal(await engine.stop(), 0);

    const newDir = path.join(tempDataDir('restoreto'), 'data');
    const restored = await runScript('restore', ['--snapshot', snapshotFile, '--data', newDir]);
    t.equal(restored.code, 0, restored.stderr);
    t.match(restored.stdout, /item "ord" \(row 1\): stock 20, held 6, left 14, 6 orders/,
      'the summary gives each item');
    t.match(restored.stdout, /item "res" \(row 2\): stock 10, held 3, left 7, 4 orders/);
    t.equal((await runScript('reconcile', ['--data', newDir])).code, 0, 'the restored directory reconciles');

    engine = await startEngine({ dataDir: newDir, args: [...to.args] });
    for (const b of bought) {
      const view = await request(engine.port, 'GET', `/api/orders/${b.order}`, { token: signToken(b.user) });
      t.equal(view.status, 200, `order ${b.order} is there for user ${b.user}`);
      t.equal(view.json.state, b.state, `in state ${b.state}`);
      t.equal(view.json.item, b.item);
    }
    t.equal((await request(engine.port, 'GET', `/api/orders/${paid.order}`, { token: signToken(9999) })).status, 404,
      'and not for anyone else');
    const items = await request(engine.port, 'GET', '/api/items');
    const left = Object.fromEntries((items.json.items as { id: string; left: number }[]).map((i) => [i.id, i.left]));
    t.same(left, { ord: 14, res: 7 }, '/api/items offers the snapshot\'s left');
    const next = await buy(engine, 'ord', 3001);
    t.notOk(bought.some((b) => b.order === next.order), `a new order gets a new id (${next.order})`);
    t.equal((await request(engine.port, 'POST', `/api/orders/${paid.order}/cancel`,
      { token: signToken(paid.user) })).json.error, 'already_paid', 'a paid order stays paid');
    t.equal(await engine.stop(), 0);

    const again = await runScript('restore', ['--snapshot', snapshotFile, '--data', newDir]);
    t.equal(again.code, 2, 'restoring into a directory with a database exits 2');
    t.match(again.stderr, /--data: .* already holds a database/);

    const tampered = path.join(path.dirname(newDir), 'tampered.json');
    const doc = JSON.parse(fs.readFileSync(snapshotFile, 'utf8')) as { shards: {
      items: { id: string; left: number }[] }[] };
    doc.shards.flatMap((shard) => shard.items).find((i) => i.id === 'ord')!.left += 1;
    fs.writeFileSync(tampered, JSON.stringify(doc));
    const otherDir = path.join(tempDataDir('restorebad'), 'data');
    const refused = await runScript('restore', ['--snapshot', tampered, '--data', otherDir]);
    t.equal(refused.code, 1, 'a snapshot whose left + held is not its stock exits 1');
    t.match(refused.stderr, /item "ord" .*left 15 \+ held 6 is not stock 20; nothing written/);
    t.notOk(fs.existsSync(path.join(otherDir, 'flash-sale.sqlite')), 'and no database is written');
    t.equal((await runScript('restore', ['--data', otherDir])).code, 2, 'a missing --snapshot exits 2');
  });
}


for (const mode of MODES) {
  t.test(`with ${mode.name}, a restored directory started with the same sale file keeps what admins changed ` +
    '(the sale file\'s definitions travel in the snapshot)', async (t) => {
    const saleItems = [item('keep', { stock: 10 })];
    const dataDir = tempDataDir('restorekeep');
    const engine = await startEngine({ dataDir, args: [...mode.args], sale: saleItems,
      env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    const restock = await request(engine.port, 'POST', '/admin/items/keep/restock',
      { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"add":5}' });
    t.equal(restock.json.stock, 15, 'an admin restocked 10 → 15');
    const taken = await runScript('snapshot', ['--data', dataDir]);
    t.equal(taken.code, 0, taken.stderr);
    t.equal(await engine.stop(), 0);
    const snapshot = JSON.parse(fs.readFileSync(taken.stdout.trim(), 'utf8')) as { shards: {
      items: { id: string; fileDefinition: string | null }[] }[] };
    t.type(snapshot.shards[0]!.items[0]!.fileDefinition, 'string', 'the snapshot carries the sale file\'s definition');
    const newDir = path.join(tempDataDir('restorekeepto'), 'data');
    t.equal((await runScript('restore', ['--snapshot', taken.stdout.trim(), '--data', newDir])).code, 0);
    fs.mkdirSync(newDir, { recursive: true });
    const restored = await startEngine({ dataDir: newDir,
      args: [...mode.args, '--sale', writeSaleFile(newDir, saleItems)] });
    t.teardown(() => restored.stop());
    t.equal((await request(restored.port, 'GET', '/api/items/keep')).json.stock, 15,
      'started with the same sale file, the restock is kept');
  });
}
