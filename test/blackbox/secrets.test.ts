// Proves that secrets stay secret: before an item starts, no public response
// holds its ticket (every route a shopper can read, every static asset and a
// watching WebSocket's frames are fetched and searched),
// guessed tickets are refused, and the ticket appears only from startsAt on;
// and no secret (user secret, ticket secret, admin token) ever reaches the
// engine's logs, through start-up, buys, refusals, admin actions, a
// snapshot and shutdown.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, WORKER_MODES, item, request, signToken, startEngine, tempDataDir, USER_SECRET,
} from '../helpers/engine-process';
import { connectWs } from '../helpers/ws-client';

const TICKET_SECRET = 'ticket-secret-for-secret-tests-0123456789';

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `before the start nothing public holds the ticket; from the start the ticket route gives it`, async (t) => {
    const startsAt = Date.now() + 3500;
    const engine = await startEngine({ dataDir: tempDataDir('ticket'), args: [...mode.args],
      sale: [item('soon', { startsAt })],
      env: { FLASH_TICKET_SECRET: TICKET_SECRET } });
    t.teardown(() => engine.stop());
    // Every static file the page references, by the names the page uses.
    const page = await request(engine.port, 'GET', '/');
    const assets = [...page.body.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
    t.ok(assets.length >= 2, `the page's assets are read too (${assets.join(', ')})`);
    const publicPaths = ['/', '/index.html', '/api/items', '/api/items/soon', '/api/items/soon/ticket',
      '/api/items/soon/challenge', '/sale.js', '/api/time', '/metrics', '/healthz', '/readyz', ...assets];
    const before = await Promise.all(publicPaths.map((p) => request(engine.port, 'GET', p, { token: signToken(1) })));
    // A WebSocket that watches until just before the start: pushes and time only.
    const watcher = await connectWs(engine.port, { token: signToken(2) });
    watcher.send({ op: 'time', id: 1 });
    await watcher.next((f) => f.id === 1);
    await sleep(startsAt - Date.now() - 300);
    watcher.close();
    before.push({ status: 101, headers: {}, json: {}, body: JSON.stringify(watcher.frames) });
    t.equal(before.find((r) => r.body.includes('/api/buy/')), undefined, 'no buy path anywhere before the start');
    t.equal((await request(engine.port, 'GET', '/api/items/soon/ticket')).status, 403,
      'the ticket route says not_started');
    const guesses = ['AAAAAAAAAAAAAAAAAAAAAA', 'x', '', '0'.repeat(22), 'soon'];
    for (const guess of guesses) {
      const r = await request(engine.port, 'POST', `/api/buy/soon/${guess}`, { token: signToken(1) });
      t.ok(r.status === 403 || r.status === 404, `guess "${guess}" is refused (${r.status} ${r.json.error})`);
    }
    await sleep(startsAt - Date.now() + 50);
    const ticket = await request(engine.port, 'GET', '/api/items/soon/ticket');
    t.equal(ticket.status, 200, 'from the start the ticket route answers');
    const ticketValue = (ticket.json.buyPath as string).split('/').pop()!;
    t.ok(before.every((r) => !r.body.includes(ticketValue)), 'and that ticket was in none of the responses before');
    t.match((await request(engine.port, 'GET', '/sale.js')).body, ticketValue, '/sale.js carries it once started');
    // On fresh connections, so that with two HTTP threads both answer: every thread gives the same ticket.
    const everywhere = await Promise.all(Array.from({ length: 8 }, () => request(engine.port, 'GET',
      '/api/items/soon/ticket', { agent: new http.Agent({ keepAlive: false }) })));
    t.same(everywhere.map((r) => r.json.buyPath), everywhere.map(() => ticket.json.buyPath),
      'every connection is given the same ticket');
    t.equal((await request(engine.port, 'POST', ticket.json.buyPath as string, { token: signToken(1) })).status, 200,
      'and it buys');
  });
}

for (const mode of WORKER_MODES) {
  t.test(`with ${mode.name}, no secret ever reaches the logs`, async (t) => {
    const env = { FLASH_ADMIN_TOKEN: ADMIN_TOKEN, FLASH_TICKET_SECRET: TICKET_SECRET };
    const engine = await startEngine({ dataDir: tempDataDir('nolog'), args: [...mode.args],
      sale: [item('s', { stock: 2 })], env });
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const buyPath = (await request(engine.port, 'GET', '/api/items/s/ticket')).json.buyPath as string;
    for (let user = 1; user <= 3; user++) await request(engine.port, 'POST', buyPath, { token: signToken(user) });
    await request(engine.port, 'POST', buyPath, { token: signToken(9, 'a forged secret, long enough to pass 32') });
    await request(engine.port, 'GET', '/admin/stats', { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } });
    await request(engine.port, 'POST', '/admin/items/s/pause', { headers: admin });
    await request(engine.port, 'POST', '/admin/items/s/restock', { headers: admin, body: '{"add":1}' });
    await request(engine.port, 'POST', '/admin/snapshot', { headers: admin });
    engine.proc.kill('SIGUSR2');
    await sleep(300);
    t.equal(await engine.stop(), 0);
    const output = JSON.stringify(engine.lines) + engine.stderr.join('');
    t.ok(engine.lines.length > 5, 'the engine did log');
    for (const [name, secret] of [['user secret', USER_SECRET], ['ticket secret', TICKET_SECRET],
      ['admin token', ADMIN_TOKEN]] as const) {
      t.notOk(output.includes(secret), `the ${name} is not in the logs`);
    }
    t.notOk(output.includes(buyPath.split('/').pop()!), 'nor is a ticket');
  });
}

