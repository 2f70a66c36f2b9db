// Proves the fair start window against the real engine, under every thread
// layout of MODES. An admin adds an item with a stock of 5 and a 2.5 s
// window; before its start /api/items publishes the seed's hash and not the
// seed. 40 distinct users buy at once inside the window: every one is told
// 202 "entered" with the draw's time, a second buy is told the same, and
// GET .../entry says "entered" before the draw and not_entered to a user
// who did not buy. After the draw exactly 5 entrants won (distinct orders,
// places 1..5), the other 35 lost with sold_out, places are 1..40 once
// each; the revealed seed hashes to the published hash; scripts/verify-draw
// checks the published proof and finds a user's place where /entry says it
// is; a keyed retry of an entry gets what the draw gave it; SQLite holds
// exactly the 5 winners' orders and the 40 entries. Then kill -9 inside a
// window, after 30 entries were acknowledged, and a restart on the same
// data: the draw is made with every acknowledged entrant and nothing is
// sold twice.

import crypto from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { databaseFile } from '../../persistence/data-directory';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, modesNamed, pool, readOrders, request, signToken, startEngine, tempDataDir,
  type EngineHandle, type Reply,
} from '../helpers/engine-process';
import { runScript } from '../helpers/script-process';

const STOCK = 5;
const ENTRANTS = 40;
const FIRST_USER = 1001;
const WINDOW_MS = 2500;
/** Time between adding the item and its start: the buys wait for the start, not for the engine. */
const START_IN_MS = 1500;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function addFairItem(engine: EngineHandle, id: string): Promise<{ startsAt: number; drawAt: number }> {
  const startsAt = Date.now() + START_IN_MS;
  const created = await request(engine.port, 'POST', '/admin/items', {
    headers: admin, body: JSON.stringify(item(id, { stock: STOCK, startsAt, fairWindowMs: WINDOW_MS })),
  });
  if (created.status !== 201) throw new Error(`create ${id}: ${created.status} ${created.body}`);
  return { startsAt, drawAt: startsAt + WINDOW_MS };
}

function buy(engine: EngineHandle, path: string, user: number, key?: string): Promise<Reply> {
  return request(engine.port, 'POST', path, { token: signToken(user), headers: key ? { 'idempotency-key': key } : {} });
}

function entry(engine: EngineHandle, id: string, user: number): Promise<Reply> {
  return request(engine.port, 'GET', `/api/items/${id}/entry`, { token: signToken(user) });
}

const users = Array.from({ length: ENTRANTS }, (_, i) => FIRST_USER + i);

async function enterAll(t: Test, engine: EngineHandle, id: string, startsAt: number, drawAt: number): Promise<void> {
  await sleep(startsAt - Date.now() + 20);
  const path = await buyPathOf(engine.port, id);
  const replies = await pool(ENTRANTS, 20, (i) => buy(engine, path, users[i]!, i === 0 ? 'entry-key' : undefined));
  t.ok(Date.now() < drawAt, 'every buy was answered inside the window');
  t.same(replies.map((r) => r.status), users.map(() => 202), 'every buy inside the window is 202');
  t.ok(replies.every((r) => r.json.result === 'entered' && r.json.item === id && r.json.drawAt === drawAt),
    'each is told "entered" with the time of the draw');
  const again = await buy(engine, path, users[1]!);
  t.same([again.status, again.json.result], [202, 'entered'], 'a second buy inside the window enters nobody twice');
  const before = await entry(engine, id, users[2]!);
  t.same(before.json, { item: id, state: 'entered', drawAt }, '/entry before the draw says entered');
  const stranger = await entry(engine, id, 99);
  t.same([stranger.status, stranger.json.error], [404, 'not_entered'], 'a user who did not buy has no entry');
  const early = await request(engine.port, 'GET', `/api/items/${id}/draw`);
  t.same([early.status, early.json.error], [404, 'not_drawn'], 'no draw is published before the window closes');
}

async function drawResults(t: Test, engine: EngineHandle, id: string, drawAt: number): Promise<Reply[]> {
  await sleep(drawAt - Date.now() + 200);
  let entries: Reply[] = [];
  for (let tries = 0; tries < 50; tries++) {
    entries = await pool(ENTRANTS, 10, (i) => entry(engine, id, users[i]!));
    if (entries.every((reply) => reply.json.state !== 'entered')) break;
    await sleep(100);
  }
  t.ok(entries.every((reply) => reply.status === 200), 'every entrant reads its result');
  const won = entries.filter((reply) => reply.json.state === 'won');
  const lost = entries.filter((reply) => reply.json.state === 'lost');
  t.equal(won.length, STOCK, 'exactly the stock is won');
  t.equal(lost.length, ENTRANTS - STOCK, 'every other entrant lost');
  t.ok(lost.every((reply) => reply.json.reason === 'sold_out'), 'the losers drew sold_out');
  t.equal(new Set(won.map((reply) => reply.json.order)).size, STOCK, 'each winner has its own order');
  t.same(entries.map((reply) => reply.json.place).sort((a, b) => Number(a) - Number(b)),
    users.map((_, i) => i + 1), 'places are 1..40, each once');
  t.same(won.map((reply) => reply.json.place).sort(), [1, 2, 3, 4, 5], 'the winners hold places 1..5');
  return entries;
}

async function proofChecks(t: Test, engine: EngineHandle, id: string, seedHash: string, entries: Reply[]):
  Promise<void> {
  const listed = await request(engine.port, 'GET', `/api/items/${id}`);
  t.equal(listed.json.seedHash, seedHash, 'the seed hash did not change');
  t.equal(crypto.createHash('sha256').update(Buffer.from(listed.json.seed as string, 'hex')).digest('hex'), seedHash,
    'the revealed seed hashes to the hash published before the start');
  const url = `http://127.0.0.1:${engine.port}/api/items/${id}/draw`;
  const user = users[3]!;
  const verified = await runScript('verify-draw', [url, '--user', String(user)]);
  t.equal(verified.code, 0, `verify-draw checks the published draw: ${verified.stdout}${verified.stderr}`);
  t.match(verified.stdout, `draw verified: ${ENTRANTS} entrants, ${STOCK} won`);
  t.match(verified.stdout, `user ${user}: place ${entries[3]!.json.place as number}, ${
    entries[3]!.json.state === 'won' ? 'won' : 'sold_out'}`, 'a user finds its own place in the proof');
  const proof = (await request(engine.port, 'GET', `/api/items/${id}/draw`)).json;
  (proof.places as { result: string }[])[0]!.result = 'sold_out';
  const tampered = `${engine.dataDir}/tampered-draw.json`;
  fs.writeFileSync(tampered, JSON.stringify(proof));
  const refused = await runScript('verify-draw', [tampered]);
  t.equal(refused.code, 1, 'a proof with a changed result does not verify');
}

async function afterDraw(t: Test, engine: EngineHandle, id: string, entries: Reply[]): Promise<void> {
  const path = await buyPathOf(engine.port, id);
  const first = entries[0]!.json;
  const retry = await buy(engine, path, users[0]!, 'entry-key');
  if (first.state === 'won') {
    t.same([retry.status, retry.json.order], [200, first.order], 'a keyed retry of a winning entry gets its order');
  } else {
    t.same([retry.status, retry.json.error], [409, 'sold_out'], 'a keyed retry of a losing entry gets sold_out');
  }
  const loser = entries.findIndex((reply) => reply.json.state === 'lost');
  const late = await buy(engine, path, users[loser]!);
  t.same([late.status, late.json.error], [409, 'sold_out'], 'a buy after the draw is an ordinary buy: sold out');
}

/** The outcome stream tells the shop of every entry and of the draw's orders. */
async function streamChecks(t: Test, engine: EngineHandle, drawAt: number): Promise<void> {
  let events: Record<string, unknown>[] = [];
  for (let tries = 0; tries < 50; tries++) {
    const reply = await request(engine.port, 'GET', '/admin/events?after=0&limit=1000&wait=0', { headers: admin });
    events = reply.body.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
    if (events.filter((event) => event.type === 'won').length === STOCK) break;
    await sleep(100);
  }
  const entered = events.filter((event) => event.type === 'entered');
  t.equal(entered.length, ENTRANTS, 'the stream has one entered event per entrant');
  t.ok(entered.every((event) => event.order === null && event.drawAt === drawAt && event.item === 'fair'),
    'an entered event names no order, and the time of its draw');
  t.equal(events.filter((event) => event.type === 'won').length, STOCK, 'and a won event per winner');
}

function storedEntries(dataDir: string): number {
  const db = new Database(databaseFile(dataDir), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM fair_entries').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

for (const mode of MODES) {
  t.test(`a fair window enters, draws and proves its draw (${mode.name})`, async (t) => {
    const dataDir = tempDataDir('fair');
    const engine = await startEngine({ dataDir, args: [...mode.args], env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN } });
    try {
      const { startsAt, drawAt } = await addFairItem(engine, 'fair');
      const listed = await request(engine.port, 'GET', '/api/items/fair');
      t.equal(listed.json.fairWindowMs, WINDOW_MS, 'the item lists its window');
      t.match(listed.json.seedHash, /^[0-9a-f]{64}$/, 'and the hash of its seed');
      t.notOk('seed' in listed.json, 'but not the seed before the window closes');
      await enterAll(t, engine, 'fair', startsAt, drawAt);
      const entries = await drawResults(t, engine, 'fair', drawAt);
      await proofChecks(t, engine, 'fair', listed.json.seedHash as string, entries);
      await afterDraw(t, engine, 'fair', entries);
      await streamChecks(t, engine, drawAt);
    } finally {
      t.equal(await engine.stop(), 0, 'the engine stops cleanly');
    }
    const orders = readOrders(dataDir);
    t.equal(orders.length, STOCK, 'SQLite holds exactly the winners\' orders');
    t.equal(new Set(orders.map((order) => order.user_id)).size, STOCK, 'one per winner');
    t.equal(storedEntries(dataDir), ENTRANTS, 'and every entry');
  });
}

// kill -9 and restart take long on a loaded machine: the ends of MODES.
for (const mode of modesNamed('--workers 0', '--workers 2 --http-threads 2')) {
  t.test(`entries survive kill -9 inside the window and are drawn after the restart (${mode.name})`, async (t) => {
    const dataDir = tempDataDir('fair-kill');
    const env = { FLASH_ADMIN_TOKEN: ADMIN_TOKEN };
    const first = await startEngine({ dataDir, args: [...mode.args], env });
    // A window long enough for the restart to land inside it or just after it.
    const startsAt = Date.now() + START_IN_MS;
    const windowMs = 8000;
    const drawAt = startsAt + windowMs;
    const created = await request(first.port, 'POST', '/admin/items', {
      headers: admin, body: JSON.stringify(item('kill', { stock: STOCK, startsAt, fairWindowMs: windowMs })),
    });
    t.equal(created.status, 201);
    await sleep(startsAt - Date.now() + 20);
    const path = await buyPathOf(first.port, 'kill');
    const acknowledged = (await pool(30, 15, (i) => buy(first, path, users[i]!)))
      .map((reply, i) => (reply.status === 202 ? users[i]! : 0)).filter((user) => user !== 0);
    t.equal(acknowledged.length, 30, 'thirty entries are acknowledged');
    await first.kill();
    const second = await startEngine({ dataDir, args: [...mode.args], env });
    try {
      await sleep(drawAt - Date.now() + 300);
      let results: Reply[] = [];
      for (let tries = 0; tries < 50; tries++) {
        results = await Promise.all(acknowledged.map((user) => entry(second, 'kill', user)));
        if (results.every((reply) => reply.status === 200 && reply.json.state !== 'entered')) break;
        await sleep(100);
      }
      t.ok(results.every((reply) => reply.status === 200), 'every acknowledged entrant is still entered');
      t.equal(results.filter((reply) => reply.json.state === 'won').length, STOCK, 'and the draw sold the stock');
      const drawn = await request(second.port, 'GET', '/api/items/kill/draw');
      t.equal((drawn.json.places as unknown[]).length, 30, 'the draw names all thirty');
    } finally {
      t.equal(await second.stop(), 0);
    }
    t.equal(readOrders(dataDir).length, STOCK, 'nothing is sold twice');
  });
}
