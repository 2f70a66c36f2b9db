// The WebSocket channel of the contract, against the real engine: buys over
// /ws go through the same rules and shard path as HTTP (and share the
// per-user limit with it), time frames, the start push without polling,
// throttled stock pushes and sold_out, garbage answered bad_request and its
// sender disconnected, oversized frames, and a client that stops reading
// dropped rather than buffered without bound. Run under every thread layout;
// with two HTTP threads the start push's clients are shown to be spread over
// both, and the per-address cap and admin pushes to hold on every thread.

import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import t from 'tap';
import { pack } from 'msgpackr';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, modesNamed, request, signToken, startEngine, startPushedLines, tempDataDir,
  type EngineHandle,
} from '../helpers/engine-process';
import { connectWs, type Frame } from '../helpers/ws-client';

const ticketOf = (buyPath: string): string => buyPath.split('/').pop()!;

for (const mode of MODES) {
  t.test(`${mode.name}`, async (t) => {
    // The start-push subtest must open its sockets before this, after the engine's start-up (slower with
    // two HTTP threads) and the subtests before it, on a loaded machine too.
    const startsAt = Date.now() + 9000;
    const engine: EngineHandle = await startEngine({
      dataDir: tempDataDir('ws'), args: [...mode.args],
      sale: [item('live', { stock: 5, perUserLimit: 1 }), item('soon', { stock: 40, perUserLimit: 1, startsAt }),
        item('two', { stock: 100, perUserLimit: 2 })],
    });
    t.teardown(() => engine.stop());
    const livePath = await buyPathOf(engine.port, 'live');

    await t.test('time, and buys with the same rules and answers as HTTP', async (t) => {
      const shopper = await connectWs(engine.port, { token: signToken(1) });
      t.teardown(() => shopper.close());
      shopper.send({ op: 'time', id: 1 });
      const time = await shopper.next((f) => f.id === 1);
      t.ok(Math.abs((time.now as number) - Date.now()) < 1000, 'time answers the server clock');
      shopper.send({ op: 'buy', id: 2, item: 'live', ticket: ticketOf(livePath) });
      const won = await shopper.next((f) => f.id === 2);
      t.match(won, { id: 2, result: 'won', item: 'live', payBy: null }, 'a buy wins over the socket');
      t.match(won.order, /^[1-9][0-9]*$/, 'with its order id as a string, as HTTP gives it');
      shopper.send({ op: 'buy', id: 3, item: 'live', ticket: ticketOf(livePath) });
      t.same(await shopper.next((f) => f.id === 3), { id: 3, error: 'limit_reached' });
      const http = await request(engine.port, 'POST', livePath, { token: signToken(1) });
      t.equal(http.json.error, 'limit_reached', 'the limit is shared with HTTP');
      const order = await request(engine.port, 'GET', `/api/orders/${won.order as string}`, { token: signToken(1) });
      t.equal(order.json.state, 'confirmed', 'the order exists for the HTTP order route');
      shopper.send({ op: 'buy', id: 4, item: 'live', ticket: 'x'.repeat(22) });
      t.same(await shopper.next((f) => f.id === 4), { id: 4, error: 'bad_ticket' });
      shopper.send({ op: 'buy', id: 5, item: 'nope', ticket: 'x' });
      t.same(await shopper.next((f) => f.id === 5), { id: 5, error: 'unknown_item' });
      shopper.send({ op: 'buy', id: 6, item: 'soon', ticket: 'x'.repeat(22) });
      t.same(await shopper.next((f) => f.id === 6), { id: 6, error: 'not_started', startsAt },
        'not_started carries startsAt');
    });

    await t.test('a socket without a token watches but cannot buy; a bad token is refused at the upgrade',
      async (t) => {
      const watcher = await connectWs(engine.port);
      t.teardown(() => watcher.close());
      watcher.send({ op: 'buy', id: 1, item: 'live', ticket: ticketOf(livePath) });
      t.same(await watcher.next((f) => f.id === 1), { id: 1, error: 'unauthorized' });
      await t.rejects(connectWs(engine.port, { token: 'v1.1.1.forged' }), /401/);
      await t.rejects(connectWs(engine.port,
        { headers: { authorization: `Bearer ${signToken(1, 'a forged secret, long enough to pass 32')}` } }), /401/,
        'a forged header token too');
      await t.rejects(connectWs(engine.port, { headers: { cookie: 'fs_user=v1.2.3.nope' } }), /401/,
        'and a forged cookie');
      const cookie = await connectWs(engine.port, { headers: { cookie: `fs_user=${signToken(77)}` } });
      t.teardown(() => cookie.close());
      cookie.send({ op: 'buy', id: 1, item: 'two', ticket: ticketOf(await buyPathOf(engine.port, 'two')) });
      t.match(await cookie.next((f) => f.id === 1), { result: 'won' }, 'the fs_user cookie authenticates the upgrade');
      // As HTTP reads them: another auth scheme or another cookie is no token, so the socket may watch.
      for (const headers of [{ authorization: 'Basic dXNlcjpwYXNz' },
        { cookie: 'xfs_user=whatever; theme=dark' }] as Record<string, string>[]) {
        const other = await connectWs(engine.port, { headers });
        other.send({ op: 'buy', id: 9, item: 'two', ticket: ticketOf(await buyPathOf(engine.port, 'two')) });
        t.same(await other.next((f) => f.id === 9), { id: 9, error: 'unauthorized' },
          `${JSON.stringify(headers)} presents no token: a watcher`);
        other.close();
      }
    });

    await t.test('one buy in flight per user: two buys in one frame burst get one answer each, ' +
      'never two wins in flight', async (t) => {
      const shopper = await connectWs(engine.port, { token: signToken(5) });
      t.teardown(() => shopper.close());
      const ticket = ticketOf(await buyPathOf(engine.port, 'two'));
      // Both frames in one TCP write: the engine reads them in one turn, while the first is in flight.
      const burst = Buffer.concat([frameBytes({ op: 'buy', id: 1, item: 'two', ticket }),
        frameBytes({ op: 'buy', id: 2, item: 'two', ticket })]);
      (shopper.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(burst);
      const answers = [await shopper.next((f) => f.id === 1), await shopper.next((f) => f.id === 2)];
      t.match(answers[0], { result: 'won' });
      t.same(answers[1], { id: 2, error: 'rate_limited' },
        'the second, sent while the first was in flight, is refused');
    });

    await t.test('the start push reaches every client at the start, and stock pushes are throttled', async (t) => {
      const clients = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        connectWs(engine.port, { token: signToken(1000 + i) })));
      t.teardown(() => clients.forEach((c) => c.close()));
      const starts = await Promise.all(clients.map((c) =>
        c.next((f) => f.op === 'start' && f.item === 'soon', startsAt - Date.now() + 5000).then((f) =>
        ({ f, at: Date.now() }))));
      t.ok(starts.every(({ at }) => at >= startsAt), 'never before startsAt');
      const latest = Math.max(...starts.map(({ at }) => at - startsAt));
      t.ok(latest < 1000, `every client had it within ${latest} ms of the start (the bench measures the 50 ms goal)`);
      const buyPath = starts[0]!.f.buyPath as string;
      t.match(buyPath, /^\/api\/buy\/soon\/[A-Za-z0-9_-]{22}$/, 'the push carries the buy path');
      const pushesBefore = clients[0]!.frames.filter((f) => f.op === 'stock' && f.item === 'soon').length;
      const opened = Date.now();
      // 40 units bought one by one over about a second: many changes, few pushes.
      for (let i = 0; i < 40; i++) {
        clients[i]!.send({ op: 'buy', id: 9, item: 'soon', ticket: ticketOf(buyPath) });
        await clients[i]!.next((f) => f.id === 9);
        await sleep(20);
      }
      await clients[0]!.next((f) => f.op === 'sold_out' && f.item === 'soon', 3000);
      const elapsed = Date.now() - opened;
      const stock = clients[0]!.frames.filter((f) => f.op === 'stock' && f.item === 'soon').slice(pushesBefore);
      t.ok(stock.length >= 2, `stock pushes arrived (${stock.length})`);
      t.ok(stock.length <= Math.ceil(elapsed / 100) + 1,
        `at most 10 a second: ${stock.length} in ${elapsed} ms for 40 changes`);
      t.same(stock.at(-1), { op: 'stock', item: 'soon', left: 0 }, 'the last one says 0 left');
      const threads = mode.name.includes('--http-threads 2') ? 2 : 1;
      const pushed = await startPushedLines(engine, 'soon', threads);
      t.equal(pushed.length, threads, `each HTTP thread logged its start push (${JSON.stringify(pushed)})`);
      t.ok(pushed.every((line) => line.clients > 0), 'and each pushed to clients of its own: the 50 are spread');
      t.ok(pushed.reduce((sum, line) => sum + line.clients, 0) >= 50, 'all 50 clients were pushed to');
      const late = await connectWs(engine.port, { token: signToken(2000) });
      t.teardown(() => late.close());
      late.send({ op: 'buy', id: 1, item: 'soon', ticket: ticketOf(buyPath) });
      t.same(await late.next((f) => f.id === 1), { id: 1, error: 'sold_out' });
    });

    await t.test('garbage is answered bad_request, with the id when one could be read, and a repeat sender is cut off',
      async (t) => {
      const bad = await connectWs(engine.port, { token: signToken(3) });
      bad.ws.send(Buffer.from([0xc1]));
      t.same(await bad.next(() => true), { error: 'bad_request' }, 'not MessagePack');
      bad.send({ op: 'dance', id: 41 });
      t.same(await bad.next((f) => f.id === 41), { id: 41, error: 'bad_request' }, 'unknown op, id echoed');
      bad.send({ op: 'buy', id: 42, item: 7 });
      t.same(await bad.next((f) => f.id === 42), { id: 42, error: 'bad_request' },
        'a buy with fields of the wrong type');
      bad.ws.send('{"op":"time","id":1}');
      for (let i = 0; i < 10; i++) bad.send([1, 2, 3]);
      const closed = await bad.closed;
      t.equal(closed.code, 1008, 'closed with policy violation after repeated garbage');
      const other = await connectWs(engine.port, { token: signToken(4) });
      t.teardown(() => other.close());
      other.send({ op: 'time', id: 1 });
      t.ok((await other.next((f) => f.id === 1)).now, 'the engine keeps serving');
    });

    await t.test('a frame over 1 KiB closes the connection', async (t) => {
      const big = await connectWs(engine.port, { token: signToken(6) });
      big.send({ op: 'buy', id: 1, item: 'live', ticket: 'x'.repeat(2000) });
      const closed = await big.closed;
      t.ok(closed.code === 1009 || closed.code === 1006, `closed (${closed.code})`);
    });

    await t.test('a client that stops reading is dropped, not buffered without bound', async (t) => {
      const slow = await connectWs(engine.port, { token: signToken(8) });
      const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void;
        write(b: Buffer): boolean } })._socket;
      socket.pause();
      // 300,000 time requests: their answers (about 7 MB) fill the kernel's
      // socket buffers (a few MB on loopback) and then the engine's 64 KiB
      // of backpressure for this client.
      const frame = frameBytes({ op: 'time', id: 1 });
      const chunk = Buffer.concat(Array.from({ length: 1000 }, () => frame));
      for (let i = 0; i < 300; i++) socket.write(chunk);
      await sleep(1500);
      socket.resume();
      const closed = await Promise.race([slow.closed, sleep(15_000).then(() => null)]);
      t.ok(closed !== null, `the engine closed the slow client (${closed?.code})`);
      t.ok(slow.frames.length < 300_000, `it did not get every answer (${slow.frames.length})`);
      const other = await connectWs(engine.port, { token: signToken(9) });
      t.teardown(() => other.close());
      other.send({ op: 'time', id: 1 });
      t.ok((await other.next((f) => f.id === 1)).now, 'the engine keeps serving');
    });

    await t.test('a socket stops buying when the token it was opened with expires, as HTTP does', async (t) => {
      const expiresSec = Math.floor(Date.now() / 1000) + 2;
      const header = await connectWs(engine.port,
        { headers: { authorization: `Bearer ${signToken(88, undefined, expiresSec)}` } });
      const query = await connectWs(engine.port, { token: signToken(89, undefined, expiresSec) });
      t.teardown(() => [header, query].forEach((c) => c.close()));
      const twoTicket = ticketOf(await buyPathOf(engine.port, 'two'));
      header.send({ op: 'buy', id: 1, item: 'two', ticket: twoTicket });
      t.match(await header.next((f) => f.id === 1), { result: 'won' }, 'before the expiry it buys');
      await sleep(expiresSec * 1000 - Date.now() + 100);
      header.send({ op: 'buy', id: 2, item: 'two', ticket: twoTicket });
      t.same(await header.next((f) => f.id === 2), { id: 2, error: 'unauthorized' },
        'after it, a header token is unauthorized');
      query.send({ op: 'buy', id: 1, item: 'two', ticket: twoTicket });
      t.same(await query.next((f) => f.id === 1), { id: 1, error: 'unauthorized' }, 'and so is a ?token= one');
      query.send({ op: 'time', id: 3 });
      t.ok(typeof (await query.next((f) => f.id === 3)).now === 'number', 'the socket stays open to watch');
    });
  });
}

// The idle test waits out two idle timeouts (18 s a run), so it runs under the
// two ends of the layouts: one HTTP thread (with the inline shard; the same
// socket code serves shard workers) and two HTTP threads sharing the port.
const IDLE_MODES = modesNamed('--workers 0', '--workers 2 --http-threads 2');

function frameBytes(frame: Frame): Buffer {
  // A masked binary WebSocket frame, as a client must send it.
  const payload = pack(frame);
  const mask = Buffer.from([1, 2, 3, 4]);
  const header = payload.length < 126 ? Buffer.from([0x82, 0x80 | payload.length])
    : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 255]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([header, mask, masked]);
}


for (const mode of IDLE_MODES) {
  t.test(`with ${mode.name}, ` +
    `a silent socket that does not answer pings is closed after the idle timeout; a live one stays`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('wsidle'), args: [...mode.args], sale: [item('i')],
      env: { FLASH_WS_IDLE_SEC: '8' } });
    t.teardown(() => engine.stop());
    const started = Date.now();
    // A raw socket that upgrades and then never reads, writes or answers a ping.
    const silent = net.connect(engine.port, '127.0.0.1');
    silent.on('error', () => undefined);
    // Reads (and drops) what comes, so the close is seen; never answers.
    silent.resume();
    silent.write('GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
      `sec-websocket-key: ${Buffer.alloc(16, 1).toString('base64')}\r\nsec-websocket-version: 13\r\n\r\n`);
    const silentClosed = new Promise<number>((resolve) => silent.on('close', () => resolve(Date.now() - started)));
    // A `ws` client answers pings by itself, as browsers do.
    const live = await connectWs(engine.port, { token: signToken(1) });
    t.teardown(() => live.close());
    const closedAfter = await Promise.race([silentClosed, sleep(30_000).then(() => -1)]);
    t.ok(closedAfter > 0 && closedAfter < 25_000, `the silent socket was closed after ${closedAfter} ms`);
    // Past twice the idle timeout, the socket that answered the pings is still there.
    await sleep(Math.max(0, 18_000 - (Date.now() - started)));
    live.send({ op: 'time', id: 1 });
    t.ok((await live.next((f) => f.id === 1)).now, 'the socket that answers pings is still open');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `one address holds at most --ws-max-per-address sockets (429 at the upgrade); 0 turns the limit off`,
    async (t) => {
    // Ten places and then six more tries, each a new connection: with two HTTP
    // threads the kernel spreads them over both, and the cap is one count for
    // the address over every thread, not one per thread.
    const limited = await startEngine({ dataDir: tempDataDir('wsaddr'), args: [...mode.args], sale: [item('a')],
      env: { FLASH_WS_MAX_PER_ADDRESS: '10' } });
    const held = await Promise.all(Array.from({ length: 10 }, (_, u) =>
      connectWs(limited.port, { token: signToken(u + 1) })));
    const over = await Promise.allSettled(Array.from({ length: 6 }, (_, u) =>
      connectWs(limited.port, { token: signToken(u + 20) })));
    over.forEach((o) => o.status === 'fulfilled' && o.value.close());
    t.same(over.map((o) => o.status === 'rejected' && /429/.test(String(o.reason))), over.map(() => true),
      'the eleventh and every later one from 127.0.0.1 is refused 429');
    held[0]!.close();
    await held[0]!.closed;
    await sleep(100);
    const again = await connectWs(limited.port, { token: signToken(50) });
    t.pass('a closed socket frees its place');
    [again, ...held.slice(1)].forEach((c) => c.close());
    await limited.stop();
    const open = await startEngine({ dataDir: tempDataDir('wsaddroff'), args: [...mode.args], sale: [item('a')],
      env: { FLASH_WS_MAX_PER_ADDRESS: '0' } });
    t.teardown(() => open.stop());
    const many = await Promise.all(Array.from({ length: 12 }, (_, u) =>
      connectWs(open.port, { token: signToken(u + 1) })));
    t.equal(many.length, 12, 'with the limit at 0, twelve sockets from one address are accepted');
    many.forEach((c) => c.close());
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `pushes for items an admin adds while sockets are open, and sold_out for an item that starts empty`,
    async (t) => {
    // Far enough ahead that every socket is open before the start, even when two HTTP threads start slowly.
    const startsAt = Date.now() + 5000;
    const engine = await startEngine({
      dataDir: tempDataDir('wsadmin'), args: [...mode.args], env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN },
      sale: [item('empty', { stock: 0, startsAt }), item('other', { stock: 5 }),
        item('brief', { stock: 5, startsAt, endsAt: startsAt + 1000 })],
    });
    t.teardown(() => engine.stop());
    const watcher = await connectWs(engine.port);
    t.teardown(() => watcher.close());
    // More watchers, so that with two HTTP threads some are on each.
    const more = await Promise.all(Array.from({ length: 8 }, () => connectWs(engine.port)));
    t.teardown(() => more.forEach((c) => c.close()));
    t.match(await watcher.next((f) => f.op === 'start' && f.item === 'empty', 9000), { op: 'start', item: 'empty' },
      'the empty item starts');
    t.same(await watcher.next((f) => f.op === 'sold_out' && f.item === 'empty', 5000),
      { op: 'sold_out', item: 'empty' },
      'and is sold out at once');
    t.same(await watcher.next((f) => f.op === 'ended' && f.item === 'brief', 5000), { op: 'ended', item: 'brief' },
      'an item that ends gets its ended push');
    const briefStart = watcher.frames.findIndex((f) => f.op === 'start' && f.item === 'brief');
    t.ok(briefStart >= 0 && briefStart < watcher.frames.findIndex((f) => f.op === 'ended' && f.item === 'brief'),
      'after its start push');
    const created = await request(engine.port, 'POST', '/admin/items', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ id: 'added', name: 'Added', price: 1, stock: 3, startsAt: Date.now() - 1000 }),
    });
    t.equal(created.status, 201, 'an admin adds an item that is already live');
    const start = await watcher.next((f) => f.op === 'start' && f.item === 'added', 5000);
    t.match(start.buyPath, /^\/api\/buy\/added\/[A-Za-z0-9_-]+$/, 'open sockets get its start push with the buy path');
    const others = await Promise.all(more.map((c) => c.next((f) => f.op === 'start' && f.item === 'added', 5000)));
    t.ok(others.every((f) => f.buyPath === start.buyPath), 'on every thread: the other watchers get the same push');
    const over = await request(engine.port, 'POST', '/admin/items', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ id: 'gone', name: 'Gone', price: 1, stock: 3, startsAt: Date.now() - 7_200_000,
        endsAt: Date.now() - 3_600_000 }),
    });
    t.equal(over.status, 201, 'and one that is already over');
    await sleep(1200);
    t.notOk(watcher.frames.some((f) => f.item === 'gone'), 'which is not pushed at all');
    t.notOk(watcher.frames.some((f) => f.op === 'start' && f.item === 'other'),
      'an item live at boot is not announced again');
  });
}
