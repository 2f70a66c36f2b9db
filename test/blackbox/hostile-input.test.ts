// Limits on hostile HTTP input, each shown on and (where it has a switch)
// off: URL length (414), header block size (431), one buy in flight per
// user (a burst from one account over many connections; websocket.test.ts
// shows it exactly, with two frames in one write), and slow or idle
// connections (slowloris) closed by the server while others are served.

import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import t from 'tap';
import {
  MODES, buyPathOf, item, modesNamed, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

// The slowloris test waits out the idle timeout (over 10 s a run), so it runs
// under the two ends of the layouts only: one HTTP thread (the inline shard;
// the same HTTP code feeds shard workers) and two HTTP threads sharing the port.
const SLOWLORIS_MODES = modesNamed('--workers 0', '--workers 2 --http-threads 2');

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `URL and header limits are on by default and answer 414 and 431; 0 turns them off`, async (t) => {
    const sale = [item('u', { stock: 10 })];
    const engine = await startEngine({ dataDir: tempDataDir('limits'), args: [...mode.args], sale });
    const longQuery = `/api/items?${'q'.repeat(3000)}`;
    const bigHeader = { 'x-padding': 'p'.repeat(10_000) };
    const url = await request(engine.port, 'GET', longQuery);
    t.equal(url.status, 414);
    t.same(url.json, { error: 'url_too_long' });
    const header = await request(engine.port, 'GET', '/api/time', { headers: bigHeader });
    t.equal(header.status, 431);
    t.same(header.json, { error: 'headers_too_large' });
    t.equal((await request(engine.port, 'GET', `/api/items?${'q'.repeat(1500)}`)).status, 200,
      'under the limit is served');
    t.equal((await request(engine.port, 'GET', '/api/time')).status, 200, 'and the engine keeps serving');
    await engine.stop();

    const open = await startEngine({ dataDir: tempDataDir('nolimits'), args: [...mode.args], sale,
      env: { FLASH_MAX_URL_BYTES: '0', FLASH_MAX_HEADER_BYTES: '0' } });
    t.teardown(() => open.stop());
    t.equal((await request(open.port, 'GET', longQuery)).status, 200, 'with --max-url-bytes 0 the long URL is served');
    t.equal((await request(open.port, 'GET', '/api/time', { headers: bigHeader })).status, 200,
      'with --max-header-bytes 0 the big header is served');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `a user has one buy in flight: a burst from one account over many connections is refused while one is in flight`,
    async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('inflight'), args: [...mode.args],
      sale: [item('p', { stock: 1000, perUserLimit: 50 })] });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'p');
    const buy = (userId: number) =>
      `POST ${buyPath} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${signToken(userId)}\r\ncontent-length: 0\r\n\r\n`;
    // 50 connections, all open first, then one buy each by the same user in
    // one tight loop: the engine reads many of them in one turn, while the
    // first of that turn is in flight. The per-user limit (50) would let every
    // one of them win; only the in-flight rule refuses any.
    const sockets = await Promise.all(Array.from({ length: 50 }, () => new Promise<net.Socket>((resolve) => {
      const socket = net.connect(engine.port, '127.0.0.1', () => resolve(socket));
      socket.on('error', () => undefined);
    })));
    const replies = sockets.map((socket) => new Promise<string>((resolve) => {
      let reply = '';
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1');
        if (reply.includes('}')) resolve(reply);
      });
      setTimeout(() => resolve(reply), 5000);
    }));
    const request = buy(7);
    for (const socket of sockets) socket.write(request);
    const answers = await Promise.all(replies);
    sockets.forEach((socket) => socket.destroy());
    const won = answers.filter((a) => a.includes('"result":"won"')).length;
    const limited = answers.filter((a) => /^HTTP\/1\.1 429 /.test(a) && a.includes('"error":"rate_limited"')
      && /retry-after: 1/i.test(a)).length;
    t.equal(won + limited, 50, `every buy was answered won (${won}) or 429 rate_limited (${limited})`);
    t.ok(won >= 1, 'at least one won');
    t.ok(limited >= 1, 'buys that came while another of the same user was in flight were refused');
  });
}

for (const mode of SLOWLORIS_MODES) {
  t.test(`with ${mode.name}, ` +
    `slow and silent connections are closed by the engine while others are served (slowloris)`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('slow'), args: [...mode.args], sale: [item('s')] });
    t.teardown(() => engine.stop());
    const started = Date.now();
    const closedAfter = (socket: net.Socket) =>
      new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
    // Ten dribblers: a header line, then one byte a second, never finishing.
    const dribblers = Array.from({ length: 10 }, () => {
      const socket = net.connect(engine.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write('GET /api/items HTTP/1.1\r\nhost: x\r\n');
      const timer = setInterval(() => socket.writable && socket.write('x'), 1000);
      socket.on('close', () => clearInterval(timer));
      return closedAfter(socket);
    });
    const silent = net.connect(engine.port, '127.0.0.1');
    silent.on('error', () => undefined);
    const silentClosed = closedAfter(silent);
    // Meanwhile the engine answers everyone else.
    for (let i = 0; i < 5; i++) {
      t.equal((await request(engine.port, 'GET', '/api/time')).status, 200);
      await sleep(500);
    }
    const times = await Promise.race([Promise.all([...dribblers, silentClosed]),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 25_000))]);
    t.ok(times !== null, 'every slow or silent connection was closed');
    t.ok(times!.every((ms) => ms < 20_000),
      `within 20 s (${Math.max(...times!)} ms): uWebSockets.js's idle timeout is not reset by a dribbled header`);
  });
}
