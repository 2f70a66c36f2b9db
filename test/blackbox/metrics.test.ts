// Proves GET /metrics: Prometheus text that an ordinary parser reads, with
// the counts the engine really has after a known sequence of buys: wins and
// refusals by reason per item, stock left, orders by state, requests by
// route, responses by route and outcome, the buy latency histogram (one
// observation per buy, their sum between zero and one second per buy), the
// write-behind lag (zero in records and in seconds once SQLite has caught up
// with the ten orders' records), thread health and an event-loop lag under a
// second on an idle engine.

import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { MODES, buyPathOf, item, pool, request, signToken, startEngine, tempDataDir } from '../helpers/engine-process';

/** Parses "name{a="b",c="d"} value" lines into a map keyed by name and sorted labels. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (.+)$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, /metrics reports what happened`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('metrics'), args: [...mode.args],
      sale: [item('m', { stock: 3, mode: 'reserve' })] });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'm');
    const replies = await pool(5, 5, (i) => request(engine.port, 'POST', buyPath, { token: signToken(500 + i) }));
    await request(engine.port, 'POST', buyPath, { token: signToken(500) });
    await request(engine.port, 'POST', '/api/buy/m/AAAAAAAAAAAAAAAAAAAAAA', { token: signToken(9) });
    await request(engine.port, 'POST', buyPath);
    const won = replies.filter((r) => r.status === 200);
    t.equal(won.length, 3);
    await request(engine.port, 'POST', `/api/orders/${won[0]!.json.order}/pay`,
      { token: signToken(500 + replies.indexOf(won[0]!)) });

    const reply = await request(engine.port, 'GET', '/metrics');
    t.equal(reply.status, 200);
    t.match(reply.headers['content-type'], /^text\/plain/);
    const m = parse(reply.body);
    t.equal(m.get('flash_buys_total{item="m",outcome="won"}'), 3);
    t.equal(m.get('flash_buys_total{item="m",outcome="sold_out"}'), 3, 'two of the crowd and the repeat buyer');
    t.equal(m.get('flash_buys_total{item="m",outcome="bad_ticket"}'), 1);
    t.equal(m.get('flash_buys_total{item="m",outcome="unauthorized"}'), 1);
    t.equal(m.get('flash_item_left{item="m"}'), 0);
    t.equal(m.get('flash_item_stock{item="m"}'), 3);
    t.equal(m.get('flash_orders{item="m",state="paid"}'), 1);
    t.equal(m.get('flash_orders{item="m",state="reserved"}'), 2);
    t.equal(m.get('flash_http_requests_total{route="buy"}'), 8, 'every buy request counted by route');
    t.equal(m.get('flash_http_requests_total{route="pay"}'), 1);
    t.equal(m.get('flash_http_responses_total{route="buy",outcome="ok"}'), 3,
      'responses by route and outcome: the wins');
    t.equal(m.get('flash_http_responses_total{route="buy",outcome="sold_out"}'), 3);
    t.equal(m.get('flash_http_responses_total{route="buy",outcome="bad_ticket"}'), 1);
    t.equal(m.get('flash_http_responses_total{route="buy",outcome="unauthorized"}'), 1);
    t.equal(m.get('flash_http_responses_total{route="pay",outcome="ok"}'), 1);
    t.equal(m.get('flash_http_responses_total{route="ticket",outcome="ok"}'), 1, 'the ticket fetched for the test');
    t.equal(m.get('flash_buy_latency_seconds_count'), 8, 'one latency observation per buy');
    t.equal(m.get('flash_buy_latency_seconds_bucket{le="+Inf"}'), 8);
    const latencySum = m.get('flash_buy_latency_seconds_sum') ?? -1;
    t.ok(latencySum > 0 && latencySum < 8, `the 8 buys took between 0 and 8 s in all (${latencySum} s)`);
    t.equal(m.get('flash_thread_up{thread="persister"}'), 1);
    t.equal(m.get('flash_thread_up{thread="shard-0"}'), 1);
    if (mode.args.includes('2')) t.equal(m.get('flash_thread_up{thread="shard-1"}'), 1, 'each shard worker is up');
    if (mode.name.includes('--http-threads 2')) {
      t.equal(m.get('flash_thread_up{thread="http-1"}'), 1, 'the second HTTP thread is up');
    }
    const loopLag = m.get('flash_nodejs_eventloop_lag_seconds') ?? -1;
    t.ok(loopLag >= 0 && loopLag < 1, `event-loop lag of an idle engine is under a second (${loopLag} s)`);

    // The persistence worker applies the log within milliseconds; then both lags are exactly zero.
    const deadline = Date.now() + 10_000;
    let caughtUp = parse((await request(engine.port, 'GET', '/metrics')).body);
    while (caughtUp.get('flash_write_behind_lag_records') !== 0 && Date.now() < deadline) {
      await sleep(50);
      caughtUp = parse((await request(engine.port, 'GET', '/metrics')).body);
    }
    t.equal(caughtUp.get('flash_write_behind_lag_records'), 0, 'no log record waits for SQLite');
    t.equal(caughtUp.get('flash_write_behind_lag_seconds'), 0, 'so the lag in time is zero too');
  });
}
