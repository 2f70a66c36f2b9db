// Proves admin bans: a banned user, or any buyer from a banned address
// range, is refused 403 banned while others buy; lifting a ban lets the
// buyer through; bad ranges are refused; bans survive a restart and are
// counted in stats and metrics.

import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'ops-bob' };

for (const mode of MODES) {
  t.test(`with ${mode.name}, banned users and address ranges get 403 banned, and bans survive a restart`, async (t) => {
    const dataDir = tempDataDir('bans');
    const sale = [item('b', { stock: 100 })];
    const env = { FLASH_ADMIN_TOKEN: ADMIN_TOKEN };
    let engine = await startEngine({ dataDir, args: [...mode.args], sale, env });
    const buyPath = await buyPathOf(engine.port, 'b');
    const buy = (user: number) => request(engine.port, 'POST', buyPath, { token: signToken(user) });

    t.equal((await request(engine.port, 'POST', '/admin/bans',
      { headers: admin, body: '{"user":7,"reason":"bot"}' })).status, 200);
    const refused = await buy(7);
    t.equal(refused.status, 403, 'a banned user is refused');
    t.equal(refused.json.error, 'banned');
    t.equal((await buy(8)).status, 200, 'others buy');

    t.equal((await request(engine.port, 'POST', '/admin/bans',
      { headers: admin, body: '{"address":"127.0.0.0/8"}' })).status, 200);
    t.equal((await buy(9)).json.error, 'banned', 'every buyer from a banned range is refused');
    for (const bad of ['{"address":"300.1.1.1/8"}', '{"address":"10.0.0.0/33"}', '{"user":0}',
      '{"user":7,"address":"10.0.0.0/8"}', 'nope']) {
      t.equal((await request(engine.port, 'POST', '/admin/bans', { headers: admin, body: bad })).status, 400,
        `ban ${bad} is 400`);
    }
    t.equal((await request(engine.port, 'DELETE', '/admin/bans',
      { headers: admin, body: '{"address":"127.0.0.0/8"}' })).status, 200);
    t.equal((await buy(9)).status, 200, 'a lifted range lets buyers through');
    t.equal((await request(engine.port, 'DELETE', '/admin/bans',
      { headers: admin, body: '{"address":"127.0.0.0/8"}' })).status, 404, 'lifting it twice is 404');

    const stats = await request(engine.port, 'GET', '/admin/stats', { headers: admin });
    t.equal((stats.json.items as { refused: { banned: number } }[])[0]!.refused.banned, 2,
      'stats count the banned refusals');
    t.match((await request(engine.port, 'GET', '/metrics')).body, /flash_buys_total\{item="b",outcome="banned"\} 2/);

    t.equal(await engine.stop(), 0);
    engine = await startEngine({ dataDir, args: [...mode.args], sale, env });
    t.teardown(() => engine.stop());
    t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(7) })).json.error, 'banned',
      'the user ban survives a restart');
    const listed = await request(engine.port, 'GET', '/admin/bans', { headers: admin });
    t.match(listed.json.bans, [{ kind: 'user', value: '7', actor: 'ops-bob', reason: 'bot' }],
      'and is listed with who and why');
    await request(engine.port, 'DELETE', '/admin/bans', { headers: admin, body: '{"user":7}' });
    t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(7) })).status, 200,
      'unbanned, the user buys');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `behind a trusted proxy the address comes from its header, and only when one is configured`, async (t) => {
    const env = { FLASH_ADMIN_TOKEN: ADMIN_TOKEN };
    for (const trusted of [true, false]) {
      const engine = await startEngine({ dataDir: tempDataDir('proxy'), sale: [item('p', { stock: 100 })], env,
        args: [...mode.args, ...(trusted ? ['--trusted-proxy-header', 'X-Forwarded-For'] : [])] });
      const buyPath = await buyPathOf(engine.port, 'p');
      await request(engine.port, 'POST', '/admin/bans', { headers: admin, body: '{"address":"203.0.113.0/24"}' });
      const via = (user: number, forwardedFor: string) =>
        request(engine.port, 'POST', buyPath, { token: signToken(user), headers: { 'x-forwarded-for': forwardedFor } });
      if (trusted) {
        t.equal((await via(1, '198.51.100.1, 203.0.113.9')).json.error, 'banned',
          'the entry the proxy appended (the last) is the client');
        t.equal((await via(2, '203.0.113.9, 198.51.100.1')).status, 200,
          'an entry the client wrote itself (not last) is not trusted');
        t.equal((await via(3, 'garbage')).status, 200, 'a header without an address bans no one');
      } else {
        t.equal((await via(4, '203.0.113.9')).status, 200,
          'without --trusted-proxy-header the header is ignored: the socket address counts');
      }
      await engine.stop();
    }
  });
}
