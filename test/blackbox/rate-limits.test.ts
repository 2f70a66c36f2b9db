// Proves the rate limits are on by default and work: a user over their
// burst gets 429 rate_limited with Retry-After while other users buy; the
// bucket refills with time; an address over its burst is refused whoever
// the user; and with the limits turned off (0) the same traffic is served.
// Each buy of a limit's count goes over a fresh connection, so that with two
// HTTP threads they land on both: a bucket is one over every thread.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t from 'tap';
import {
  MODES, buyPathOf, item, request, runEngineToExit, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';
import { connectWs } from '../helpers/ws-client';

/** A connection of its own for one request. */
const fresh = (): { agent: http.Agent } => ({ agent: new http.Agent({ keepAlive: false }) });


for (const mode of MODES) {
  t.test(`with ${mode.name}, the defaults limit each user to a burst of 10 then 5 buys a second`, async (t) => {
    const help = await runEngineToExit(['--help']);
    t.match(help.stdout, /--rate-user-per-sec.*Default 5\./);
    // The engine's own defaults: the test helper turns limits off, so restore them here.
    const engine = await startEngine({ dataDir: tempDataDir('rate'), args: [...mode.args],
      sale: [item('r', { stock: 1000, perUserLimit: 1000 })],
      env: { FLASH_RATE_USER_PER_SEC: '', FLASH_RATE_ADDRESS_PER_SEC: '' } });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'r');
    const results = [];
    for (let i = 0; i < 12; i++) {
      results.push(await request(engine.port, 'POST', buyPath, { token: signToken(1), ...fresh() }));
    }
    t.equal(results.filter((r) => r.status === 200).length, 10, 'a burst of 10 is served');
    const limited = results.filter((r) => r.status === 429);
    t.equal(limited.length, 2, 'the rest are refused');
    t.ok(limited.every((r) => r.json.error === 'rate_limited' && r.headers['retry-after'] === '1'),
      '429 rate_limited with Retry-After');
    t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(2) })).status, 200,
      'another user is not affected');
    await sleep(450);
    t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(1) })).status, 200,
      'the bucket refills at 5 a second');
    t.match((await request(engine.port, 'GET', '/metrics')).body, /flash_rate_limited_total 2/, 'counted in /metrics');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `an address over its burst is refused whoever the user, and 0 turns a limit off`, async (t) => {
    const sale = [item('a', { stock: 1000 })];
    const limited = await startEngine({ dataDir: tempDataDir('rateaddr'), args: [...mode.args], sale,
      env: { FLASH_RATE_ADDRESS_PER_SEC: '1', FLASH_RATE_ADDRESS_BURST: '5' } });
    const buyPath = await buyPathOf(limited.port, 'a');
    const replies = [];
    for (let i = 0; i < 8; i++) replies.push(await request(limited.port, 'POST', buyPath,
      { token: signToken(100 + i), ...fresh() }));
    t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429],
      'five buys from 127.0.0.1, then 429 for new users too');
    await limited.stop();
    const open = await startEngine({ dataDir: tempDataDir('rateoff'), args: [...mode.args], sale,
      env: { FLASH_RATE_ADDRESS_PER_SEC: '0', FLASH_RATE_USER_PER_SEC: '0' } });
    t.teardown(() => open.stop());
    const openPath = await buyPathOf(open.port, 'a');
    const served = [];
    for (let i = 0; i < 30; i++) served.push(await request(open.port, 'POST', openPath,
      { token: signToken(200 + (i % 2)) }));
    t.ok(served.every((r) => r.status !== 429), 'with both limits at 0 nothing is rate limited');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `past the event-loop lag threshold buys are shed 503 overloaded, and 0 turns shedding off`, async (t) => {
    const sale = [item('l', { stock: 100_000, perUserLimit: 1 })];
    const burst = async (port: number, buyPath: string) =>
      Promise.all(Array.from({ length: 3000 }, (_, i) =>
        request(port, 'POST', buyPath, { token: signToken(1000 + i) })));
    // A threshold of 1 ms: a burst of 3,000 buys delays the engine's timer past it.
    const touchy = await startEngine({ dataDir: tempDataDir('shed'), args: [...mode.args], sale,
      env: { FLASH_SHED_LAG_MS: '1' } });
    const shed = (await burst(touchy.port, await buyPathOf(touchy.port, 'l'))).filter((r) => r.status === 503);
    t.ok(shed.length > 0, `some buys were shed (${shed.length})`);
    t.ok(shed.every((r) => r.json.error === 'overloaded' && r.headers['retry-after'] === '1'),
      'as 503 overloaded with Retry-After');
    const metrics = (await request(touchy.port, 'GET', '/metrics')).body;
    t.match(metrics, /flash_event_loop_lag_seconds \d/);
    t.match(metrics, new RegExp(`flash_shed_total ${shed.length}\\b`), 'each shed buy is counted in flash_shed_total');
    await touchy.stop();
    const calm = await startEngine({ dataDir: tempDataDir('noshed'), args: [...mode.args], sale,
      env: { FLASH_SHED_LAG_MS: '0' } });
    t.teardown(() => calm.stop());
    const replies = await burst(calm.port, await buyPathOf(calm.port, 'l'));
    t.equal(replies.filter((r) => r.status === 503).length, 0, 'with shedding off nothing is shed');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `--rate-exempt lifts the per-address limits for its ranges only; the per-user limit still applies`,
    async (t) => {
    const sale = [item('x', { stock: 1000, perUserLimit: 1000 })];
    const tight = { FLASH_RATE_ADDRESS_PER_SEC: '1', FLASH_RATE_ADDRESS_BURST: '2', FLASH_RATE_USER_PER_SEC: '',
      FLASH_WS_MAX_PER_ADDRESS: '2' };
    const exempt = await startEngine({ dataDir: tempDataDir('exempt'), sale,
      args: [...mode.args, '--rate-exempt', '10.0.0.0/8, 127.0.0.0/8'], env: tight });
    const buyPath = await buyPathOf(exempt.port, 'x');
    const crowd = [];
    for (let i = 0; i < 8; i++) crowd.push(await request(exempt.port, 'POST', buyPath, { token: signToken(300 + i) }));
    t.same(crowd.map((r) => r.status), Array(8).fill(200),
      'eight users from an exempt 127.0.0.1 all buy, past the address burst of 2');
    const oneUser = [];
    for (let i = 0; i < 12; i++) oneUser.push(await request(exempt.port, 'POST', buyPath,
      { token: signToken(400), ...fresh() }));
    t.equal(oneUser.filter((r) => r.status === 429 && r.json.error === 'rate_limited').length, 2,
      'one user is still held to the per-user burst of 10');
    const sockets = await Promise.all([1, 2, 3, 4].map((u) => connectWs(exempt.port, { token: signToken(500 + u) })));
    t.equal(sockets.length, 4, 'four sockets from the exempt address, past --ws-max-per-address 2');
    sockets.forEach((s) => s.close());
    await exempt.stop();

    const elsewhere = await startEngine({ dataDir: tempDataDir('notexempt'), sale,
      args: [...mode.args, '--rate-exempt', '10.0.0.0/8'],
      env: tight });
    t.teardown(() => elsewhere.stop());
    const otherPath = await buyPathOf(elsewhere.port, 'x');
    const limited = [];
    for (let i = 0; i < 4; i++) limited.push(await request(elsewhere.port, 'POST', otherPath,
      { token: signToken(600 + i), ...fresh() }));
    t.same(limited.map((r) => r.status), [200, 200, 429, 429], 'an address outside the exempt ranges keeps its limit');
    const held = await Promise.all([1, 2].map((u) => connectWs(elsewhere.port, { token: signToken(700 + u) })));
    await t.rejects(connectWs(elsewhere.port, { token: signToken(703) }), /429/, 'and its socket cap');
    held.forEach((s) => s.close());
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, --rate-exempt behind a trusted proxy reads the address from its header`, async (t) => {
    const sale = [item('p', { stock: 1000 })];
    const engine = await startEngine({
      dataDir: tempDataDir('exemptproxy'), sale,
      args: [...mode.args, '--rate-exempt', '203.0.113.0/24', '--trusted-proxy-header', 'x-forwarded-for'],
      env: { FLASH_RATE_ADDRESS_PER_SEC: '1', FLASH_RATE_ADDRESS_BURST: '2' },
    });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'p');
    const from = async (address: string, users: number[]): Promise<number[]> => {
      const statuses = [];
      for (const user of users) statuses.push((await request(engine.port, 'POST', buyPath,
        { token: signToken(user), headers: { 'x-forwarded-for': `198.51.100.9, ${address}` } })).status);
      return statuses;
    };
    t.same(await from('203.0.113.7', [1, 2, 3, 4, 5]), [200, 200, 200, 200, 200],
      'the exempt client behind the proxy is not address-limited');
    t.same(await from('198.51.100.20', [6, 7, 8, 9]), [200, 200, 429, 429], 'another client behind the same proxy is');
  });
}

t.test('a bad --rate-exempt range stops start-up with a message naming it', async (t) => {
  const bad = await runEngineToExit(['--rate-exempt', '10.0.0.0/8,not-an-address']);
  t.not(bad.code, 0, 'the engine does not start');
  t.match(bad.stderr, /--rate-exempt: not an IP address: not-an-address/);
  const prefix = await runEngineToExit(['--rate-exempt', '10.0.0.0/33']);
  t.match(prefix.stderr, /--rate-exempt: bad prefix length/);
});
