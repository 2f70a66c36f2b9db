// Proves that every refusal of the contract's buy table that the engine core
// covers comes with its status and error code, leaves stock untouched, and
// that the engine keeps serving afterwards; in both shard modes. Also the
// order routes' refusals and unknown routes.

import net from 'node:net';
import t from 'tap';
import {
  MODES, WORKER_MODES, buyPathOf, item, request, signToken, startEngine, tempDataDir, USER_SECRET,
} from '../helpers/engine-process';

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, each refusal has the contract's status and code`, async (t) => {
    const soon = Date.now() + 3_600_000;
    const engine = await startEngine({
      dataDir: tempDataDir('refusals'), args: [...mode.args],
      sale: [
        item('open', { stock: 5 }),
        item('later', { startsAt: soon }),
        item('over', { startsAt: Date.now() - 7_200_000, endsAt: Date.now() - 3_600_000 }),
        item('one', { stock: 1 }),
      ],
    });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'open');
    const token = signToken(7);
    const expect = async (what: string,
      reply: Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }>,
      status: number, error: string) => {
      const r = await reply;
      t.equal(r.status, status, `${what}: status ${status}`);
      t.equal(r.json.error, error, `${what}: error ${error}`);
      return r;
    };

    await expect('no token', request(engine.port, 'POST', buyPath), 401, 'unauthorized');
    await expect('malformed token', request(engine.port, 'POST', buyPath, { token: 'v1.7.x.y' }), 401, 'unauthorized');
    await expect('forged token',
      request(engine.port, 'POST', buyPath, { token: signToken(7, 'another-secret-another-secret-xx') }), 401,
      'unauthorized');
    await expect('expired token',
      request(engine.port, 'POST', buyPath, { token: signToken(7, USER_SECRET, Math.floor(Date.now() / 1000) - 1) }),
      401, 'unauthorized');
    await expect('wrong ticket', request(engine.port, 'POST', '/api/buy/open/AAAAAAAAAAAAAAAAAAAAAA', { token }), 403,
      'bad_ticket');
    await expect('another item\'s ticket', request(engine.port, 'POST', buyPath.replace('/open/', '/one/'), { token }),
      403, 'bad_ticket');
    const early = await expect('before the start',
      request(engine.port, 'POST', '/api/buy/later/AAAAAAAAAAAAAAAAAAAAAA', { token }), 403, 'not_started');
    t.equal(early.json.startsAt, soon, 'not_started carries startsAt');
    await expect('ticket before the start', request(engine.port, 'GET', '/api/items/later/ticket'), 403, 'not_started');
    await expect('after the end', request(engine.port, 'POST', '/api/buy/over/AAAAAAAAAAAAAAAAAAAAAA', { token }), 410,
      'ended');
    await expect('unknown item', request(engine.port, 'POST', '/api/buy/nothing/AAAAAAAAAAAAAAAAAAAAAA', { token }),
      404, 'unknown_item');
    await expect('unknown item view', request(engine.port, 'GET', '/api/items/nothing'), 404, 'unknown_item');
    await expect('malformed item id',
      request(engine.port, 'POST', '/api/buy/BAD_ID!/AAAAAAAAAAAAAAAAAAAAAA', { token }), 400, 'bad_request');
    await expect('body not JSON', request(engine.port, 'POST', buyPath, { token, body: '{nope' }), 400, 'bad_request');
    await expect('body JSON but not the buy shape',
      request(engine.port, 'POST', buyPath, { token, body: '{"quantity":5}' }), 400, 'bad_request');
    await expect('body over 1 KiB', request(engine.port, 'POST', buyPath, { token, body: 'x'.repeat(1025) }), 413,
      'too_large');
    await expect('unknown route', request(engine.port, 'GET', '/no/such/route'), 404, 'not_found');
    await expect('unknown order', request(engine.port, 'GET', '/api/orders/12345', { token }), 404, 'unknown_order');
    await expect('garbage order id', request(engine.port, 'GET', '/api/orders/abc', { token }), 404, 'unknown_order');
    await expect('garbage order id without a token', request(engine.port, 'GET', '/api/orders/abc'), 401,
      'unauthorized');
    await expect('order on no item, without a token', request(engine.port, 'GET', '/api/orders/999999999999'), 401,
      'unauthorized');

    const oneBuy = await buyPathOf(engine.port, 'one');
    const won = await request(engine.port, 'POST', oneBuy, { token: signToken(1) });
    t.equal(won.status, 200, 'the single unit is won');
    await expect('nothing left', request(engine.port, 'POST', oneBuy, { token: signToken(2) }), 409, 'sold_out');
    await expect('another user\'s order',
      request(engine.port, 'GET', `/api/orders/${won.json.order}`, { token: signToken(2) }), 404, 'unknown_order');
    await expect('order without token', request(engine.port, 'GET', `/api/orders/${won.json.order}`), 401,
      'unauthorized');
    await expect('paying an order-mode order',
      request(engine.port, 'POST', `/api/orders/${won.json.order}/pay`, { token: signToken(1) }), 409, 'not_reserved');
    await expect('cancelling an order-mode order',
      request(engine.port, 'POST', `/api/orders/${won.json.order}/cancel`, { token: signToken(1) }), 409,
      'not_reserved');

    const body1KiB = JSON.stringify({ challenge: 'c', answer: 'a'.repeat(1024 - 29) });
    t.equal(Buffer.byteLength(body1KiB), 1024);
    const atLimit = await request(engine.port, 'POST', buyPath, { token, body: body1KiB });
    t.equal(atLimit.status, 200, 'a body of exactly 1 KiB is accepted');

    t.equal((await request(engine.port, 'GET', '/api/time')).headers['cache-control'], 'no-store',
      '/api/time is never cached');
    t.match((await request(engine.port, 'GET', '/sale.js')).headers['cache-control'], /no-store/,
      '/sale.js is never cached');
    const head = await request(engine.port, 'HEAD', '/');
    t.equal(head.status, 200, 'HEAD of the page answers its headers');
    t.equal(head.body, '', 'and no body');
    const headApi = await request(engine.port, 'HEAD', '/api/items');
    t.equal(headApi.status, 404, 'HEAD elsewhere is 404, without a body that would break keep-alive');
    t.equal((await request(engine.port, 'GET', '/api/items')).status, 200, 'the next request is fine');

    const huge = await rawRequest(engine.port,
      `POST ${buyPath} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${signToken(30)}\r\n` +
      'Content-Length: 12345678\r\n\r\n{}');
    t.match(huge, /^HTTP\/1\.1 413 [^]*"error":"too_large"/,
      'a Content-Length of eight digits is 413 too_large, not 400');
    const chunked = await rawRequest(engine.port,
      `POST ${buyPath} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${signToken(31)}\r\n` +
      'Transfer-Encoding: chunked\r\n\r\n5\r\nnotjs\r\n0\r\n\r\n');
    t.match(chunked, /^HTTP\/1\.1 400 [^]*"error":"bad_request"/,
      'a buy body without a Content-Length (chunked) is refused, not ignored');
    t.notMatch(chunked, /"result":"won"/, 'and it does not buy');
    const garbage = await rawRequest(engine.port,
      'POST /api/buy/open/x HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n');
    t.notMatch(garbage, /^HTTP\/1\.1 5/, 'a garbage request gets no 5xx');
    await rawRequest(engine.port, '\x00\x01\x02 garbage \r\n\r\n');
    const still = await request(engine.port, 'POST', buyPath, { token: signToken(8) });
    t.equal(still.status, 200, 'the engine keeps serving after garbage');
    const view = await request(engine.port, 'GET', '/api/items/open');
    t.ok((view.json.left as number) >= 3, 'refusals took no stock (5 - two wins)');
  });
}

for (const mode of WORKER_MODES) {
  t.test(`with ${mode.name}, ` +
    `a full shard ring answers 503 overloaded with Retry-After, and winners never exceed stock`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('overload'), args: [...mode.args, '--ring-slots', '1'],
      sale: [item('hot', { stock: 50 })] });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'hot');
    const replies = await Promise.all(Array.from({ length: 400 }, (_, i) =>
      request(engine.port, 'POST', buyPath, { token: signToken(10 + i) })));
    const overloaded = replies.filter((r) => r.status === 503);
    t.ok(overloaded.length > 0, `some buys were shed (${overloaded.length})`);
    t.ok(overloaded.every((r) => r.json.error === 'overloaded' && r.headers['retry-after'] === '1'),
      'shed buys say overloaded with Retry-After');
    t.ok(replies.filter((r) => r.status === 200).length <= 50, 'no more winners than stock');
    t.ok(replies.every((r) => [200, 409, 503].includes(r.status)), 'only won, sold_out and overloaded');
  });
}
