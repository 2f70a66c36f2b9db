// Proves what an operator relies on: --help lists every flag with its
// environment variable; a bad flag or sale file stops start-up naming the
// item and field; the demo sale runs with no sale file; one engine per data
// directory; restarting with the same sale file keeps what was sold;
// SIGUSR2 writes a consistent snapshot and logs its path and pause; snapshots
// asked for at once are all answered (one at a time) with every order as
// SQLite has it, and a stop lets a snapshot being written finish;
// --snapshot-keep bounds the files kept; SIGTERM flushes every acknowledged
// order into SQLite and exits 0.

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, readOrders, request, runEngineToExit, signToken, startEngine, tempDataDir,
  USER_SECRET, writeSaleFile,
} from '../helpers/engine-process';


t.test('--help lists every flag with its FLASH_* variable', async (t) => {
  const { code, stdout } = await runEngineToExit(['--help']);
  t.equal(code, 0);
  for (const [flag, env] of [['--port', 'FLASH_PORT'], ['--host', 'FLASH_HOST'], ['--data', 'FLASH_DATA'],
    ['--sale', 'FLASH_SALE'],
    ['--workers', 'FLASH_WORKERS'], ['--http-threads', 'FLASH_HTTP_THREADS'], ['--fsync', 'FLASH_FSYNC'],
    ['--log-level', 'FLASH_LOG_LEVEL'],
    ['--ring-slots', 'FLASH_RING_SLOTS'],
    ['--demo-start-sec', 'FLASH_DEMO_START_SEC'], ['--trusted-proxy-header', 'FLASH_TRUSTED_PROXY_HEADER']]) {
    t.match(stdout, new RegExp(`${flag}\\b.*${env}`), `${flag} with ${env}`);
  }
  t.match(stdout, /FLASH_USER_SECRET/);
});

t.test('bad configuration stops start-up with a message naming what is wrong', async (t) => {
  const dataDir = tempDataDir('badconfig');
  const bad = await runEngineToExit(['--workers', 'many', '--data', dataDir]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--workers/);
  const unknown = await runEngineToExit(['--colour', 'red', '--data', dataDir]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown flag --colour/);
  const threadsWithoutWorkers = await runEngineToExit(['--workers', '0', '--http-threads', '2', '--data', dataDir]);
  t.equal(threadsWithoutWorkers.code, 2, 'more than one HTTP thread without shard workers is refused');
  t.match(threadsWithoutWorkers.stderr, /--http-threads 2 needs shard workers/);
  const sale = writeSaleFile(dataDir, [item('fine'), item('broken', { stock: -1 })]);
  const refused = await runEngineToExit(['--sale', sale, '--data', dataDir, '--port', '0'],
    { FLASH_USER_SECRET: USER_SECRET });
  t.equal(refused.code, 2, 'a bad sale file exits 2');
  t.match(refused.stderr, /item "broken" \(items\[1\]\): field "stock"/, 'the message names the item and the field');
  const shortSecret = await runEngineToExit(['--data', dataDir, '--port', '0'], { FLASH_USER_SECRET: 'short' });
  t.equal(shortSecret.code, 2, 'a user secret under 32 bytes is refused');
  t.notMatch(shortSecret.stderr + shortSecret.stdout, /short/, 'and not echoed');
});

for (const mode of MODES) {
  t.test(`with ${mode.name}, with no sale file and an empty database the demo sale runs and says so`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('demo'), args: [...mode.args, '--demo-start-sec', '1'],
      env: { FLASH_USER_SECRET: '' } });
    t.teardown(() => engine.stop());
    t.ok(engine.lines.some((l) => String(l.msg).startsWith('DEMO SALE')), 'logged as a demo sale');
    t.ok(engine.lines.some((l) => String(l.msg).startsWith('DEMO MODE')), 'demo user tokens logged');
    const items = await request(engine.port, 'GET', '/api/items');
    t.ok((items.json.items as unknown[]).length >= 1, 'demo items are listed');
    // The demo starts on a whole second at least 1 s after boot.
    for (let i = 0; i < 60
      && (await request(engine.port, 'GET', '/api/items/demo-phone/ticket')).status !== 200; i++) await sleep(100);
    const demo = await request(engine.port, 'GET', '/api/demo/token');
    t.equal(demo.status, 200, 'demo token route exists in demo mode');
    const buyPath = await buyPathOf(engine.port, 'demo-phone');
    const won = await request(engine.port, 'POST', buyPath, { token: demo.json.token as string });
    t.equal(won.json.result, 'won', 'a demo shopper can buy');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, the demo token route does not exist when a user secret is set`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('nodemo'), args: [...mode.args], sale: [item('x')] });
    t.teardown(() => engine.stop());
    t.equal((await request(engine.port, 'GET', '/api/demo/token')).status, 404);
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, a second engine on the same data directory is refused`, async (t) => {
    const dataDir = tempDataDir('lock');
    const engine = await startEngine({ dataDir, args: [...mode.args], sale: [item('x')] });
    t.teardown(() => engine.stop());
    const second = await runEngineToExit([...mode.args, '--data', dataDir, '--port', '0'],
      { FLASH_USER_SECRET: USER_SECRET });
    t.equal(second.code, 2);
    t.match(second.stderr, /another engine/);
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `restarting with the same sale file keeps what was sold; lowering stock below it is refused`, async (t) => {
    const dataDir = tempDataDir('resale');
    const sale = [item('keep', { stock: 10 })];
    const saleFile = writeSaleFile(dataDir, sale);
    let engine = await startEngine({ dataDir, args: [...mode.args, '--sale', saleFile] });
    const buyPath = await buyPathOf(engine.port, 'keep');
    const wins = (await pool(6, 6, (i) =>
      request(engine.port, 'POST', buyPath, { token: signToken(50 + i) }))).filter((r) => r.status === 200);
    t.equal(wins.length, 6);
    t.equal(await engine.stop(), 0);
    engine = await startEngine({ dataDir, args: [...mode.args, '--sale', saleFile] });
    t.equal((await request(engine.port, 'GET', '/api/items/keep')).json.left, 4,
      'stock is not reset by the same sale file');
    t.equal(await engine.stop(), 0);
    const lower = writeSaleFile(dataDir, [item('keep', { stock: 5 })]);
    const refused = await runEngineToExit(['--data', dataDir, '--sale', lower, '--port', '0'],
      { FLASH_USER_SECRET: USER_SECRET });
    t.equal(refused.code, 2);
    t.match(refused.stderr, /item "keep".*field "stock".*6 units are already sold/);
    const reserveSale = writeSaleFile(dataDir, [item('keep', { stock: 10, mode: 'reserve' })]);
    const modeRefused = await runEngineToExit(['--data', dataDir, '--sale', reserveSale, '--port', '0'],
      { FLASH_USER_SECRET: USER_SECRET });
    t.equal(modeRefused.code, 2, 'the mode of an item with orders cannot change');
    t.match(modeRefused.stderr, /item "keep".*field "mode"/);
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `a sale file or an admin update may not lower perUserLimit below what a user holds`, async (t) => {
    const dataDir = tempDataDir('limitdown');
    const sale = [item('pair', { stock: 10, perUserLimit: 3, startsAt: Date.now() - 1000, endsAt: Date.now() + 3000 })];
    let engine = await startEngine({ dataDir, args: [...mode.args], sale, env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    const buyPath = await buyPathOf(engine.port, 'pair');
    for (let i = 0; i < 2; i++) t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(5) })).status,
      200);
    await sleep(Math.max(0, (sale[0]!.endsAt as number) - Date.now() + 50));
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const update = await request(engine.port, 'PUT', '/admin/items/pair', { headers, body: '{"perUserLimit":1}' });
    t.equal(update.status, 400, 'an admin update is refused');
    t.match(update.json.message, /field "perUserLimit" is 1 but a user already holds 2 units/);
    t.equal((await request(engine.port, 'PUT', '/admin/items/pair',
      { headers, body: '{"perUserLimit":2}' })).status, 200,
      'down to what is held is fine');
    t.equal(await engine.stop(), 0);
    const lower = writeSaleFile(dataDir, [{ ...sale[0]!, perUserLimit: 1 }]);
    const refused = await runEngineToExit(['--data', dataDir, '--sale', lower, '--port', '0'],
      { FLASH_USER_SECRET: USER_SECRET });
    t.equal(refused.code, 2, 'a sale file is refused');
    t.match(refused.stderr, /item "pair".*field "perUserLimit" is 1 but a user already holds 2 units/);
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, SIGUSR2 writes a consistent snapshot and SIGTERM flushes everything`,
    async (t) => {
    const dataDir = tempDataDir('signals');
    const engine = await startEngine({ dataDir, args: [...mode.args],
      sale: [item('a', { stock: 500 }), item('b', { stock: 300, mode: 'reserve' })] });
    const paths = { a: await buyPathOf(engine.port, 'a'), b: await buyPathOf(engine.port, 'b') };
    const buying = pool(1200, 50, (i) =>
      request(engine.port, 'POST', i % 2 ? paths.a : paths.b, { token: signToken(900 + i) }));
    await sleep(50);
    engine.proc.kill('SIGUSR2');
    const replies = await buying;
    for (let i = 0; i < 100 && !engine.lines.some((l) => l.msg === 'snapshot written'); i++) await sleep(50);
    const line = engine.lines.find((l) => l.msg === 'snapshot written')!;
    t.ok(line, 'the snapshot is logged');
    t.type(line.pausedMs, 'number', 'with how long sales were paused');
    const snap = JSON.parse(fs.readFileSync(line.path as string, 'utf8')) as { shards: {
      log: { segment: string; records: number };
      items: { id: string; stock: number; left: number; orders: unknown[][]; holdings: number[][] }[] }[] };
    t.equal(path.dirname(line.path as string), path.join(dataDir, 'snapshots'), 'in the data directory');
    for (const shard of snap.shards) {
      t.type(shard.log.records, 'number', 'with the log position');
      for (const it of shard.items) {
        const held = it.orders.filter((o) => ['reserved', 'paid', 'confirmed'].includes(o[2] as string)).length;
        t.equal(it.left + held, it.stock, `snapshot of ${it.id}: left + held = stock`);
        t.equal(it.holdings.reduce((sum, h) => sum + h[1]!, 0), held,
          `snapshot of ${it.id}: holdings agree with orders`);
      }
    }
    const won = replies.filter((r) => r.status === 200).map((r) => r.json.order as string);
    t.equal(await engine.stop(), 0, 'SIGTERM exits 0');
    t.ok(engine.lines.some((l) => l.msg === 'stopped: every acknowledged order is in SQLite'), 'stop is logged');
    const stored = new Set(readOrders(dataDir).map((o) => String(o.id)));
    t.ok(won.every((id) => stored.has(id)), `all ${won.length} acknowledged orders are in SQLite after SIGTERM`);
    t.same(fs.readdirSync(path.join(dataDir, 'log')), [], 'the write-behind log is fully drained');
    t.notOk(fs.existsSync(path.join(dataDir, 'engine.pid')), 'the pid file is removed');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, snapshots asked for at once all answer, each with every order as SQLite has it`,
    async (t) => {
    const dataDir = tempDataDir('snapshots');
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const engine = await startEngine({
      dataDir, args: [...mode.args],
      sale: [item('a', { stock: 400 }), item('b', { stock: 400, mode: 'reserve' })],
      env: { FLASH_ADMIN_TOKEN: headers.authorization.slice(7) },
    });
    t.teardown(() => engine.stop());
    const paths = { a: await buyPathOf(engine.port, 'a'), b: await buyPathOf(engine.port, 'b') };
    await pool(600, 50, (i) => request(engine.port, 'POST', i % 2 ? paths.a : paths.b, { token: signToken(2000 + i) }));
    // Three at once, and a signal among them: one snapshot at a time, every caller answered.
    const asked = Promise.all([0, 1, 2].map(() => request(engine.port, 'POST', '/admin/snapshot', { headers })));
    engine.proc.kill('SIGUSR2');
    const answers = await asked;
    t.same(answers.map((a) => a.status), [200, 200, 200], 'every request is answered 200');
    const files = [...new Set(answers.map((a) => a.json.path as string))];
    t.ok(files.every((file) => fs.existsSync(file)), `the file${files.length > 1 ? 's exist' : ' exists'}`);
    const last = JSON.parse(fs.readFileSync(files.at(-1)!, 'utf8')) as { shards: {
      items: { id: string; orders: [number, number, string, number, number | null][]; holdings: number[][] }[] }[] };
    // A stop right behind a snapshot lets the writer finish: no half-written file.
    engine.proc.kill('SIGUSR2');
    t.equal(await engine.stop(), 0);
    const written = fs.readdirSync(path.join(dataDir, 'snapshots'));
    t.same(written.filter((name) => !name.endsWith('.json')), [],
      'no file is left half written, even with SIGTERM right behind SIGUSR2');
    t.ok(written.every((name) =>
      JSON.parse(fs.readFileSync(path.join(dataDir, 'snapshots', name), 'utf8')).shards.length >= 1),
      'every snapshot file is whole JSON');
    const stored = new Map(readOrders(dataDir).map((o) => [o.id, o.user_id]));
    const inSnapshot = last.shards.flatMap((s) => s.items.flatMap((it) => it.orders));
    t.equal(inSnapshot.length, 600, 'the snapshot has all 600 orders (no buy came after it)');
    t.equal(inSnapshot.filter(([id, user]) => stored.get(id) === user).length, 600,
      'each with the id and user SQLite has');
    t.ok(inSnapshot.every(([, , state, createdAt, payBy]) => state === 'confirmed'
      || (state === 'reserved' && typeof payBy === 'number' && payBy > createdAt)),
      'order-mode orders are confirmed, reserve-mode ones reserved with a pay-by after their creation');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, --snapshot-keep 2 keeps the two newest snapshot files`, async (t) => {
    const dataDir = tempDataDir('snapshot-keep');
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const engine = await startEngine({ dataDir, args: [...mode.args, '--snapshot-keep', '2'],
      sale: [item('a', { stock: 10 })],
      env: { FLASH_ADMIN_TOKEN: headers.authorization.slice(7) } });
    t.teardown(() => engine.stop());
    const taken: string[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await request(engine.port, 'POST', '/admin/snapshot', { headers });
      t.equal(answer.status, 200);
      taken.push(path.basename(answer.json.path as string));
    }
    t.equal(new Set(taken).size, 4, 'four snapshots were taken');
    t.same(fs.readdirSync(path.join(dataDir, 'snapshots')).sort(), taken.slice(2).sort(), 'the last two remain');
    t.ok(engine.lines.some((l) => l.msg === 'old snapshots removed'), 'the removal is logged');
  });
}
