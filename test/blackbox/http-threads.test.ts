// Proves what two HTTP threads sharing the port (--workers 2 --http-threads 2)
// must keep of the one-thread engine, against the real process on loopback:
// (a) the kernel spreads connections over both threads: 40 WebSockets open
//     before an item starts, and each thread's "start pushed" log line counts
//     clients of its own, together the 40;
// (b) one buy in flight per user holds across threads: one user's parallel
//     buys over many fresh connections win exactly perUserLimit units, the rest
//     are refused, and no unit is sold twice;
// (c) an admin change answered on one connection is seen on every other one at
//     once: after a pause, 20 fresh connections each get 503 paused; after a
//     ban, 403 banned;
// (d) /metrics sums the threads: flash_http_requests_total{route="items"} grows
//     by exactly the /api/items requests sent over 30 connections;
// (e) the admin audit log records the client's address of a relayed admin
//     request (127.0.0.1 here, whichever thread took it), not an empty one;
// (f) SIGTERM with buys in flight on both threads (WebSocket buyers shown on
//     both by the start push) exits 0 with every acknowledged buy in SQLite.
// Every count and wait is bounded.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t, { type Test } from 'tap';
import {
  ADMIN_TOKEN, buyPathOf, item, modeNamed, readOrders, request, signToken, startEngine, startPushedLines,
  tempDataDir, type EngineHandle, type Reply,
} from '../helpers/engine-process';
import { connectWs, type WsClient } from '../helpers/ws-client';

const MODE = modeNamed('--workers 2 --http-threads 2');
const SOCKETS = 40;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'ops-threads' };

/** The end of the engine's stderr, for the message of a failed exit. */
function stderrTail(engine: EngineHandle): string {
  const text = engine.stderr.join('');
  return text === '' ? '' : `(stderr: ${text.slice(-400)})`;
}

/** One request on a connection of its own: over many, the kernel puts some on each thread. */
function fresh(port: number, method: string, urlPath: string,
  options: { token?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return request(port, method, urlPath, { ...options, agent: new http.Agent({ keepAlive: false }) });
}

/** Opens `count` WebSockets for users from `firstUser` on, all at once. */
function openSockets(port: number, count: number, firstUser: number): Promise<WsClient[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => connectWs(port, { token: signToken(firstUser + i) })));
}

/** Checks the start push of `itemId` was logged by both threads, each for clients of its own, `total` in all. */
async function checkSpread(t: Test, engine: EngineHandle, itemId: string, total: number): Promise<void> {
  const pushed = await startPushedLines(engine, itemId, 2);
  const main = pushed.find((line) => line.thread === 'main');
  const second = pushed.find((line) => line.thread === 'http-1');
  t.ok(main !== undefined && main.clients > 0,
    `the main thread pushed to clients of its own (${JSON.stringify(pushed)})`);
  t.ok(second !== undefined && second.clients > 0, 'and so did thread http-1');
  t.equal((main?.clients ?? 0) + (second?.clients ?? 0), total, `together the ${total} sockets`);
}

t.test(`with ${MODE.name}, connections, limits, admin changes, metrics and the audit log span both threads`,
  async (t) => {
  const startsAt = Date.now() + 6000;
  const engine = await startEngine({
    dataDir: tempDataDir('threads'), args: [...MODE.args], env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN },
    sale: [item('soon', { stock: 10, startsAt }), item('limit', { stock: 100, perUserLimit: 3 }),
      item('watched', { stock: 100 })],
  });

  await t.test('(a) connections land on both threads', async (t) => {
    const sockets = await openSockets(engine.port, SOCKETS, 1000);
    t.teardown(() => sockets.forEach((s) => s.close()));
    t.ok(Date.now() < startsAt, `all ${SOCKETS} sockets were open before the start`);
    await Promise.all(sockets.map((s) => s.next((f) => f.op === 'start' && f.item === 'soon',
      startsAt - Date.now() + 5000)));
    await checkSpread(t, engine, 'soon', SOCKETS);
  });

  await t.test('(b) one buy in flight per user holds across threads; the per-user limit is exact', async (t) => {
    const buyPath = await buyPathOf(engine.port, 'limit');
    const statuses = new Map<string, number>();
    let wins = 0;
    // Rounds of 40 parallel buys by user 7, each on a fresh connection, until
    // the limit is reached (at most 8 rounds; each round that finds no buy
    // in flight wins one unit).
    for (let round = 0; round < 8 && !statuses.has('409 limit_reached'); round++) {
      const replies = await Promise.all(Array.from({ length: 40 }, () =>
        fresh(engine.port, 'POST', buyPath, { token: signToken(7) })));
      for (const reply of replies) {
        const key = reply.status === 200 ? 'won' : `${reply.status} ${reply.json.error}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (reply.status === 200) wins++;
      }
    }
    t.equal(wins, 3, `exactly perUserLimit (3) wins for the user (${JSON.stringify([...statuses])})`);
    t.ok([...statuses.keys()].every((k) => ['won', '429 rate_limited', '409 limit_reached'].includes(k)),
      'every other buy was refused: in flight elsewhere (429) or over the limit (409)');
    t.ok((statuses.get('429 rate_limited') ?? 0) > 0, 'some buys came while another of the user was in flight');
    await sleep(300); // /api/items/:id may be 250 ms stale
    t.equal((await request(engine.port, 'GET', '/api/items/limit')).json.left, 97, 'three units taken, no more');
  });

  await t.test('(c) a pause and a ban answered on one connection are seen on every other at once', async (t) => {
    const buyPath = await buyPathOf(engine.port, 'watched');
    const paused = await fresh(engine.port, 'POST', '/admin/items/watched/pause', { headers: admin });
    t.equal(paused.status, 200, 'paused');
    const whilePaused = [];
    for (let i = 0; i < 20; i++) {
      whilePaused.push(await fresh(engine.port, 'POST', buyPath, { token: signToken(200 + i) }));
    }
    t.same(whilePaused.map((r) => `${r.status} ${r.json.error}`), whilePaused.map(() => '503 paused'),
      '20 fresh connections after the answer: every buy is 503 paused');
    t.equal((await fresh(engine.port, 'POST', '/admin/items/watched/resume', { headers: admin })).status, 200);
    t.equal((await fresh(engine.port, 'POST', '/admin/bans', { headers: admin, body: '{"user":9}' })).status, 200,
      'user 9 banned');
    const whileBanned = [];
    for (let i = 0; i < 20; i++) whileBanned.push(await fresh(engine.port, 'POST', buyPath, { token: signToken(9) }));
    t.same(whileBanned.map((r) => `${r.status} ${r.json.error}`), whileBanned.map(() => '403 banned'),
      '20 fresh connections after the answer: every buy by user 9 is 403 banned');
    t.equal((await fresh(engine.port, 'POST', buyPath, { token: signToken(10) })).status, 200,
      'another user buys: the item was resumed everywhere');
  });

  await t.test('(d) /metrics counts the requests of every thread', async (t) => {
    const countOf = async (): Promise<number> => {
      const body = (await request(engine.port, 'GET', '/metrics')).body;
      const match = /^flash_http_requests_total\{route="items"\} (\d+)$/m.exec(body);
      return match ? Number(match[1]) : 0;
    };
    const before = await countOf();
    const agents = Array.from({ length: 30 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const replies = await Promise.all(Array.from({ length: 90 }, (_, i) =>
      request(engine.port, 'GET', '/api/items', { agent: agents[i % 30] })));
    agents.forEach((agent) => agent.destroy());
    t.ok(replies.every((r) => r.status === 200), '90 item lists over 30 connections');
    t.equal(await countOf() - before, 90, 'flash_http_requests_total{route="items"} grew by exactly 90');
  });

  await t.test('(e) the audit log records the address of a relayed admin request', async (t) => {
    const actions = await fresh(engine.port, 'GET', '/admin/actions', { headers: admin });
    t.equal(actions.status, 200);
    const list = actions.json.actions as { action: string; actor: string; address: string }[];
    const pause = list.find((a) => a.action === 'pause');
    t.equal(pause?.actor, 'ops-threads', 'the pause is in the audit log with its actor');
    t.equal(pause?.address, '127.0.0.1', 'and the client address, not an empty one');
    t.ok(list.every((a) => a.address === '127.0.0.1'), 'as is every action');
  });

  t.equal(await engine.stop(), 0, `SIGTERM exits 0 ${stderrTail(engine)}`);
});

t.test(`with ${MODE.name}, SIGTERM with buys in flight on both threads keeps every acknowledged buy`,
  async (t) => {
  const dataDir = tempDataDir('threads-term');
  const startsAt = Date.now() + 6000;
  const engine = await startEngine({ dataDir, args: [...MODE.args],
    sale: [item('drop', { stock: 100_000, perUserLimit: 65_535, startsAt })] });
  const sockets = await openSockets(engine.port, SOCKETS, 5000);
  t.ok(Date.now() < startsAt, `all ${SOCKETS} buyers' sockets were open before the start`);
  const acknowledged: string[] = [];
  let stopping: Promise<number | null> | null = null;
  // Each socket buys one at a time, as fast as it is answered, until the engine closes it.
  const buyers = sockets.map(async (socket, index) => {
    const start = await socket.next((f) => f.op === 'start' && f.item === 'drop', startsAt - Date.now() + 5000);
    const ticket = (start.buyPath as string).split('/').pop()!;
    let closed = false;
    void socket.closed.then(() => (closed = true));
    for (let id = 1; !closed && id < 10_000; id++) {
      socket.send({ op: 'buy', id, item: 'drop', ticket });
      const answer = await Promise.race([socket.next((f) => f.id === id, 5000).catch(() => null),
        socket.closed.then(() => null)]);
      if (answer === null) break;
      if (answer.result === 'won') acknowledged.push(answer.order as string);
      if (acknowledged.length >= 400 && !stopping) stopping = engine.stop();
    }
    return index;
  });
  await checkSpread(t, engine, 'drop', SOCKETS);
  await Promise.race([Promise.all(buyers), sleep(60_000, undefined, { ref: false })]);
  sockets.forEach((s) => s.close());
  t.ok(stopping !== null, `SIGTERM was sent after ${acknowledged.length} acknowledged buys`);
  t.equal(await (stopping ?? engine.stop()), 0, `the engine exits 0 ${stderrTail(engine)}`);
  const stored = new Set(readOrders(dataDir).map((o) => String(o.id)));
  const missing = acknowledged.filter((order) => !stored.has(order));
  t.same(missing, [], `all ${acknowledged.length} acknowledged buys are in SQLite`);
});
