// Proves the outcome stream, GET /admin/events: every outcome (won, paid,
// cancelled, expired) is one event, in order, with an offset that never
// changes; a consumer that resumes after its last offset, by long-poll or
// by Server-Sent Events after a cut connection, misses nothing and sees
// nothing twice; that holds across a kill -9 of the engine with buys in
// flight, every acknowledged order having its won event; a long-poll wakes
// within a second of a new event; waits are bounded; bad parameters are 400
// and the admin token guards it. Each runs under every thread layout, so the
// relay of /admin/* from a second HTTP thread is exercised too.

import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, readOrders, request, signToken, startEngine, tempDataDir,
  type EngineHandle,
} from '../helpers/engine-process';
import {
  ADMIN_HEADERS, contiguous, eventsUntil, pollEvents, readAllEvents, SseConsumer, type StreamEvent,
} from '../helpers/outcome-stream';

const ADMIN_ENV = { FLASH_ADMIN_TOKEN: ADMIN_TOKEN };

async function buy(engine: EngineHandle, buyPath: string, user: number): Promise<string> {
  const reply = await request(engine.port, 'POST', buyPath, { token: signToken(user) });
  if (reply.status !== 200) throw new Error(`buy by ${user}: ${reply.status} ${reply.body}`);
  return reply.json.order as string;
}

/** The events of each order, in stream order, as "type/state" words. */
function historyByOrder(events: readonly StreamEvent[]): Map<string, string[]> {
  const byOrder = new Map<string, string[]>();
  for (const e of events) byOrder.set(e.order, [...(byOrder.get(e.order) ?? []), `${e.type}/${e.state}`]);
  return byOrder;
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, the stream holds each outcome once, in order, and resumes after any offset`,
    async (t) => {
    const sale = [item('ord', { stock: 5 }), item('res', { stock: 4, mode: 'reserve', payWindowSec: 1 })];
    const engine = await startEngine({ dataDir: tempDataDir('events'), args: [...mode.args], sale, env: ADMIN_ENV });
    t.teardown(() => engine.stop());
    const paths = { ord: await buyPathOf(engine.port, 'ord'), res: await buyPathOf(engine.port, 'res') };
    const ordOrders = [await buy(engine, paths.ord, 11), await buy(engine, paths.ord, 12)];
    const [paid, cancelled, expired] = [await buy(engine, paths.res, 21), await buy(engine, paths.res, 22),
      await buy(engine, paths.res, 23)] as [string, string, string];
    t.equal((await request(engine.port, 'POST', `/api/orders/${paid}/pay`, { token: signToken(21) })).status, 200);
    t.equal((await request(engine.port, 'POST', `/api/orders/${cancelled}/cancel`, { token: signToken(22) })).status,
      200);
    await sleep(1500);
    const events = await eventsUntil(engine.port, 8);
    t.equal(events.length, 8, 'five wins, a payment, a cancel and an expiry are eight events');
    t.ok(contiguous(events.map((e) => e.offset)), 'offsets run 1..8 without a gap or a duplicate');
    const history = historyByOrder(events);
    for (const order of ordOrders) t.same(history.get(order), ['won/confirmed'], `order-mode order ${order}`);
    t.same(history.get(paid), ['won/reserved', 'paid/paid'], 'the paid reservation: won, then paid');
    t.same(history.get(cancelled), ['won/reserved', 'cancelled/cancelled'], 'the cancelled one: won, then cancelled');
    t.same(history.get(expired), ['won/reserved', 'expired/expired'], 'the unpaid one: won, then expired');
    const wonPaid = events.find((e) => e.order === paid && e.type === 'won')!;
    t.equal(wonPaid.item, 'res');
    t.equal(wonPaid.user, 21);
    t.equal(wonPaid.payBy! - wonPaid.at, 1000, 'a reservation\'s won event carries its payBy');
    t.equal(events.find((e) => e.item === 'ord')!.payBy, null, 'an order-mode win has no payBy');

    const resumed = await pollEvents(engine.port, 'after=5&wait=0');
    t.same(resumed.events, events.slice(5), 'after=5 answers exactly the events after offset 5');
    t.equal(resumed.lastOffset, 8, 'X-Flash-Last-Offset is the last offset answered');
    const page = await pollEvents(engine.port, 'after=2&limit=2');
    t.same(page.events.map((e) => e.offset), [3, 4], 'limit bounds the answer');
    const empty = await pollEvents(engine.port, 'after=8&wait=0');
    t.same([empty.status, empty.body, empty.lastOffset], [200, '', 8], 'nothing newer with wait=0: 200, empty');
    t.same(await readAllEvents(engine.port), events, 'reading again gives the same events with the same offsets');
  });

  t.test(`with ${mode.name}, a long-poll wakes within a second of a new event, and waits are bounded`, async (t) => {
    const engine = await startEngine({
      dataDir: tempDataDir('events-wait'), args: [...mode.args], sale: [item('a', { stock: 100 })], env: ADMIN_ENV,
    });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'a');
    await buy(engine, buyPath, 1);
    await eventsUntil(engine.port, 1);
    const started = Date.now();
    const waiting = pollEvents(engine.port, 'after=1&wait=20');
    await sleep(300);
    const order = await buy(engine, buyPath, 2);
    const acknowledgedAt = Date.now();
    const woke = await waiting;
    const wokeAt = Date.now();
    t.same(woke.events.map((e) => [e.offset, e.order, e.type]), [[2, order, 'won']], 'the waiting poll gets the win');
    t.ok(wokeAt - acknowledgedAt < 1000, `answered ${wokeAt - acknowledgedAt} ms after the buy's answer`);
    t.ok(wokeAt - started >= 300, 'it waited for the event');
    const timed = Date.now();
    const none = await pollEvents(engine.port, 'after=2&wait=1');
    t.same([none.status, none.events.length], [200, 0], 'no event within wait: 200 and an empty body');
    t.ok(Date.now() - timed >= 900 && Date.now() - timed < 5000, `it waited about a second (${Date.now() - timed} ms)`);

    // 16 waits are open at once; the next is refused, and a poll with events to answer is not.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const held = Array.from({ length: 16 }, () =>
      request(engine.port, 'GET', '/admin/events?after=2&wait=3', { headers: ADMIN_HEADERS, agent }));
    await sleep(500);
    const refused = await request(engine.port, 'GET', '/admin/events?after=2&wait=3', { headers: ADMIN_HEADERS });
    t.equal(refused.status, 503, 'a 17th wait is refused');
    t.equal(refused.json.error, 'overloaded');
    t.equal((await pollEvents(engine.port, 'after=0')).events.length, 2, 'a poll that need not wait is answered');
    t.ok((await Promise.all(held)).every((r) => r.status === 200), 'the 16 waits are answered when they end');
    agent.destroy();
  });

  t.test(`with ${mode.name}, a Server-Sent Events consumer cut off mid-stream resumes from its last id`,
    async (t) => {
    const engine = await startEngine({
      dataDir: tempDataDir('events-sse'), args: [...mode.args], sale: [item('a', { stock: 1000 })], env: ADMIN_ENV,
    });
    t.teardown(() => engine.stop());
    const buyPath = await buyPathOf(engine.port, 'a');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const buyMany = (first: number, count: number): Promise<unknown> => pool(count, 20, (i) =>
      request(engine.port, 'POST', buyPath, { token: signToken(first + i), agent }));
    await buyMany(1, 100);
    const first = new SseConsumer(engine.port, 'after=0');
    t.ok(await first.waitFor(100) >= 100, 'the stream sends what is already there');
    t.equal(first.status, 200);
    t.match(first.contentType, /^text\/event-stream/);
    const more = buyMany(101, 200);
    await first.waitFor(150, 5000);
    first.close();
    await more;
    const seen = first.ids.at(-1)!;
    t.ok(seen >= 100 && seen < 300, `cut off after offset ${seen}`);
    // An EventSource reconnects with its first URL and the last id it saw: the id wins over `after`.
    const second = new SseConsumer(engine.port, 'after=0', seen);
    t.equal(await second.waitFor(300 - seen), 300 - seen, 'the resumed stream sends the rest');
    await buyMany(301, 10);
    t.equal(await second.waitFor(310 - seen), 310 - seen, 'and then new events as they come');
    second.close();
    const ids = [...first.ids, ...second.ids];
    t.ok(contiguous(ids), 'the two connections together saw offsets 1..310, none missed and none twice');
    t.same(first.ids, first.events.map((e) => e.offset), 'each event\'s id is its offset');
    t.equal(new Set([...first.events, ...second.events].map((e) => e.order)).size, 310, '310 distinct orders');
    agent.destroy();
  });

  t.test(`with ${mode.name}, bad parameters are 400 naming them, and the admin token guards the stream`,
    async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('events-bad'), args: [...mode.args], env: ADMIN_ENV });
    t.teardown(() => engine.stop());
    for (const [query, name] of [['after=-1', 'after'], ['after=x', 'after'], ['limit=0', 'limit'],
      ['limit=10001', 'limit'], ['wait=61', 'wait'], ['after=1&wait=1.5', 'wait']] as const) {
      const reply = await pollEvents(engine.port, query);
      t.equal(reply.status, 400, `${query} is 400`);
      t.match(JSON.parse(reply.body).message, new RegExp(`^${name} `), `the message names ${name}`);
    }
    const badId = await request(engine.port, 'GET', '/admin/events',
      { headers: { ...ADMIN_HEADERS, accept: 'text/event-stream', 'last-event-id': 'abc' } });
    t.equal(badId.status, 400, 'a Last-Event-ID that is not an offset is 400');
    t.match(badId.json.message, /^Last-Event-ID /);
    t.equal((await request(engine.port, 'GET', '/admin/events?after=0&wait=0')).status, 401, 'no token: 401');
    t.equal((await request(engine.port, 'GET', '/admin/events?after=0&wait=0',
      { headers: { authorization: 'Bearer wrong' } })).status, 401, 'a wrong token: 401');
    const without = await startEngine({ dataDir: tempDataDir('events-off'), args: [...mode.args] });
    t.teardown(() => without.stop());
    t.equal((await request(without.port, 'GET', '/admin/events', { headers: ADMIN_HEADERS })).status, 404,
      'without FLASH_ADMIN_TOKEN the stream does not exist');
  });

  t.test(`with ${mode.name}, after kill -9 with buys in flight the stream resumes from the consumer's offset`,
    async (t) => {
    const dataDir = tempDataDir('events-kill');
    const sale = [item('a', { stock: 5000 })];
    let engine = await startEngine({ dataDir, args: [...mode.args], sale, env: ADMIN_ENV });
    const buyPath = await buyPathOf(engine.port, 'a');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const acknowledged: string[] = [];
    const before: StreamEvent[] = [];
    const consumer = (async () => {
      // The consumer reads as the buys go, until the engine dies under it.
      for (;;) {
        try {
          const { events } = await pollEvents(engine.port, `after=${before.at(-1)?.offset ?? 0}&wait=1`);
          before.push(...events);
        } catch {
          return;
        }
      }
    })();
    let killing: Promise<void> | null = null;
    await pool(4000, 50, async (i) => {
      if (killing) return;
      try {
        const reply = await request(engine.port, 'POST', buyPath, { token: signToken(1000 + i), agent });
        if (reply.status === 200) acknowledged.push(reply.json.order as string);
        if (acknowledged.length >= 1500 && !killing) killing = engine.kill();
      } catch { /* in flight when the process died: never acknowledged */ }
    });
    agent.destroy();
    await (killing ?? engine.kill());
    await consumer;
    t.ok(before.length > 0, `the consumer had read ${before.length} events before the kill`);
    engine = await startEngine({ dataDir, args: [...mode.args], sale, env: ADMIN_ENV });
    const resumed = await readAllEvents(engine.port, before.at(-1)!.offset);
    const all = [...before, ...resumed];
    t.ok(contiguous(all.map((e) => e.offset)), `offsets 1..${all.length} with no gap and no duplicate`);
    t.same((await readAllEvents(engine.port)).slice(0, before.length), before,
      'the events read before the kill have the same offsets after it');
    const won = new Set(all.filter((e) => e.type === 'won').map((e) => e.order));
    t.equal(won.size, all.length, 'every event is a distinct win');
    t.equal(acknowledged.filter((order) => !won.has(order)).length, 0,
      `each of the ${acknowledged.length} acknowledged orders has its won event`);
    t.equal(await engine.stop(), 0);
    t.equal(readOrders(dataDir).length, won.size, 'one won event per order in the database');
  });
}
