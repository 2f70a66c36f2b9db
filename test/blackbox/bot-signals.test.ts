// Proves the bot signals against the real engine, under every thread layout:
// buys fired before an item's start by many distinct users are counted per
// item by how early (more than 1 s, up to 1 s, and up to 100 ms before),
// exactly, in /metrics, in the admin stats and in GET /admin/signals, and
// each user is listed with its count and how early it fired at most;
// challenge answers sent before --challenge-think-ms are counted per item
// and per user, while a right answer after it is not; tickets and
// challenges asked for before the start are counted; an address block
// (/24) seen with N distinct users, by early buys or by WebSockets opened,
// is listed and one with N - 1 is not.
// Then an admin bans from those lists with POST /admin/bans, a user and a
// block, and after the start their buys are refused 403 banned while
// others' win. Every request opens a connection of its own, so that with
// two HTTP threads the kernel spreads them over both, and the exact totals
// show the threads' counts are summed. Client addresses are faked through
// the trusted proxy header (--trusted-proxy-header x-forwarded-for).

import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { challengeAnswer, challengeSecretOf } from '../../engine/challenge';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, request, signToken, startEngine, tempDataDir, type Reply,
} from '../helpers/engine-process';
import { connectWs } from '../helpers/ws-client';

const TICKET_SECRET = 'bot-signals-test-ticket-secret-0123456789abcdef';
const THINK_MS = 1500;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const secret = challengeSecretOf(TICKET_SECRET);
/** A buy path with a made-up ticket: before the start a buy is refused not_started before its ticket is read. */
const FAKE_PATH = '/api/buy/early/AAAAAAAAAAAAAAAAAAAAAA';

interface Client {
  user: number;
  address: string;
}
const clients = (count: number, firstUser: number, address: (i: number) => string): Client[] =>
  Array.from({ length: count }, (_, i) => ({ user: firstUser + i, address: address(i) }));
/** 40 users in one /24, each firing two buys more than a second early. */
const FAR = clients(40, 1, (i) => `198.51.100.${1 + i}`);
/** N - 1 users in one /24 and N in another (N = 10), one buy each, more than a second early. */
const NINE = clients(9, 101, (i) => `192.0.2.${1 + i}`);
const TEN = clients(10, 201, (i) => `203.0.113.${1 + i}`);
/** Users asking for a challenge before the start, each from its own /24. */
const ASKERS = clients(3, 301, (i) => `198.18.${i}.1`);
/** Users answering challenges too fast, each from its own /24. */
const FAST = clients(10, 501, (i) => `10.200.${i}.1`);
/** Users firing 700 ms and 40 ms before the start, each from its own /24. */
const SECOND = clients(20, 601, (i) => `10.1.${i}.1`);
const NEAR = clients(20, 701, (i) => `10.2.${i}.1`);
/** N users opening WebSockets from one /24; the first also fires a buy over its socket before the start. */
const SOCKETS = clients(10, 801, (i) => `100.64.5.${1 + i}`);

/** One engine's port and a request from a client: a connection of its own, its address in the proxy header. */
interface Session {
  port: number;
  send: (method: string, path: string, client: Client, body?: string) => Promise<Reply>;
}

interface ItemSignals {
  id: string;
  earlyBuys: Record<string, number>;
  tooFastAnswers: number;
  earlyTickets: number;
  earlyChallenges: number;
}

interface SignalsBody {
  items: ItemSignals[];
  users: { user: number; earlyBuys: number; earliestMs: number; tooFastAnswers: number; lastAt: number }[];
  addresses: { address: string; users: number; lastAt: number }[];
  usersListed: number;
  addressesListed: number;
}

/** Parses Prometheus text into samples keyed by name and labels as written. */
function metrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (.+)$/.exec(line);
    if (match) samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

async function signals(port: number, limit = 1000): Promise<SignalsBody> {
  return (await request(port, 'GET', `/admin/signals?limit=${limit}`, { headers: admin })).json as unknown as
    SignalsBody;
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, early buys, too-fast answers and crowded addresses are counted, listed and banned`,
    async (t) => {
    const startsAt = Date.now() + 12_000;
    const engine = await startEngine({
      dataDir: tempDataDir('bot-signals'),
      args: [...mode.args, '--trusted-proxy-header', 'x-forwarded-for', '--suspect-address-users', '10'],
      env: { FLASH_TICKET_SECRET: TICKET_SECRET, FLASH_CHALLENGE_THINK_MS: String(THINK_MS),
        FLASH_ADMIN_TOKEN: ADMIN_TOKEN },
      sale: [item('early', { stock: 100, startsAt }), item('quiz', { stock: 100, challenge: true }),
        item('later', { stock: 10, challenge: true, startsAt })],
    });
    t.teardown(() => engine.stop());
    const session: Session = {
      port: engine.port,
      send: (method, path, client, body) => request(engine.port, method, path, {
        token: signToken(client.user), headers: { 'x-forwarded-for': client.address }, body,
        agent: new http.Agent({ keepAlive: false }),
      }),
    };
    await tooFastAnswers(t, session);
    await fireFarEarly(t, session, startsAt);
    await openSockets(t, session);
    await sleep(startsAt - 700 - Date.now());
    const second = await pool(SECOND.length, SECOND.length, (i) => session.send('POST', FAKE_PATH, SECOND[i]!));
    t.ok(second.every((r) => r.json.error === 'not_started'), 'buys 700 ms early are refused not_started');
    await sleep(startsAt - 40 - Date.now());
    const near = await pool(NEAR.length, NEAR.length, (i) => session.send('POST', FAKE_PATH, NEAR[i]!));
    const nearEarly = near.filter((r) => r.json.error === 'not_started').length;
    t.comment(`${nearEarly} of ${NEAR.length} buys sent 40 ms early arrived before the start`);
    const listed = await checkCounts(t, engine.port, nearEarly);
    checkUsers(t, listed, nearEarly);
    t.same(listed.addresses[0], { address: '198.51.100.0/24', users: FAR.length, lastAt: listed.addresses[0]!.lastAt },
      'the blocks with N users or more, most users first');
    t.same(new Set(listed.addresses.slice(1).map(({ address, users }) => `${address} ${users}`)),
      new Set([`203.0.113.0/24 ${TEN.length}`, `100.64.5.0/24 ${SOCKETS.length}`]),
      'N users seen by early buys, or by WebSockets opened; the block with N - 1 is not listed');
    const top = await signals(engine.port, 1);
    t.equal(top.addresses.length, 1, '?limit cuts each list');
    t.equal(top.users.length, 1);
    t.equal(top.addressesListed, 3, 'and says how many there are');
    await banFromList(t, session, listed, startsAt);
  });
}

/** Each FAST user answers its challenge at once, rightly and wrongly (too fast), then rightly after the think time. */
async function tooFastAnswers(t: Test, session: Session): Promise<void> {
  const quizPath = await buyPathOf(session.port, 'quiz');
  await pool(FAST.length, FAST.length, async (i) => {
    const client = FAST[i]!;
    const { challenge } = (await session.send('GET', '/api/items/quiz/challenge', client)).json as
      { challenge: string };
    const [at, nonce] = challenge.split('.');
    const answer = challengeAnswer(secret, 'quiz', client.user, Number(at), nonce!);
    for (const typed of [answer, answer === '12345' ? '54321' : '12345']) {
      const reply = await session.send('POST', quizPath, client, JSON.stringify({ challenge, answer: typed }));
      t.equal(reply.json.error, 'challenge_failed', 'an answer before the think time is refused');
    }
    await sleep(Number(at) + THINK_MS + 100 - Date.now());
    const right = await session.send('POST', quizPath, client, JSON.stringify({ challenge, answer }));
    t.equal(right.status, 200, 'the right answer after the think time wins');
  });
}

/** Buys, tickets and challenges more than a second before the start; all must be refused not_started in time. */
async function fireFarEarly(t: Test, session: Session, startsAt: number): Promise<void> {
  const buys = [...FAR, ...FAR, ...NINE, ...TEN];
  const replies = await pool(buys.length, 8, (i) => session.send('POST', FAKE_PATH, buys[i]!));
  for (let i = 0; i < 3; i++) replies.push(await session.send('GET', '/api/items/early/ticket', FAR[0]!));
  for (const asker of ASKERS) replies.push(await session.send('GET', '/api/items/later/challenge', asker));
  t.ok(replies.every((r) => r.status === 403 && r.json.error === 'not_started'), 'all refused not_started');
  t.ok(Date.now() < startsAt - 1100, 'all answered more than a second before the start (else the test is too slow)');
}

/** Each SOCKETS user opens a WebSocket from its address; the first sends a buy before the start over it. */
async function openSockets(t: Test, session: Session): Promise<void> {
  const sockets = await Promise.all(SOCKETS.map((client) => connectWs(session.port,
    { token: signToken(client.user), headers: { 'x-forwarded-for': client.address } })));
  sockets[0]!.send({ op: 'buy', id: 1, item: 'early', ticket: 'A'.repeat(22) });
  t.equal((await sockets[0]!.next((frame) => frame.id === 1)).error, 'not_started', 'an early buy over the socket');
  for (const socket of sockets) socket.close();
}

/** The per-item counts, the same in GET /admin/signals, the admin stats and /metrics. */
async function checkCounts(t: Test, port: number, nearEarly: number): Promise<SignalsBody> {
  const more = 2 * FAR.length + NINE.length + TEN.length + 1;
  const listed = await signals(port);
  const itemOf = (id: string): ItemSignals => listed.items.find((entry) => entry.id === id)!;
  const early = itemOf('early');
  t.equal(early.earlyBuys.more, more, 'buys more than 1 s early, summed over the threads');
  t.equal(early.earlyBuys['1s'], SECOND.length, 'buys up to 1 s early');
  t.equal(early.earlyBuys['100ms']! + early.earlyBuys['10ms']!, nearEarly, 'buys up to 100 ms early');
  t.equal(early.earlyTickets, 3, 'tickets asked for before the start');
  t.equal(itemOf('later').earlyChallenges, ASKERS.length, 'challenges asked for before the start');
  t.equal(itemOf('quiz').tooFastAnswers, 2 * FAST.length, 'answers before the think time, right or wrong');
  t.equal(listed.items[0]!.id, 'early', 'the item with the most signals first');
  const stats = (await request(port, 'GET', '/admin/stats', { headers: admin })).json as
    { items: { id: string; refused: Record<string, number>; signals: Omit<ItemSignals, 'id'> }[] };
  const earlyStats = stats.items.find((entry) => entry.id === 'early')!;
  t.equal(earlyStats.refused.not_started, more + SECOND.length + nearEarly, 'every not_started buy is an early buy');
  const { id: _id, ...earlySignals } = early;
  t.same(earlyStats.signals, earlySignals, 'the stats carry the same signals');
  const m = metrics((await request(port, 'GET', '/metrics')).body);
  t.equal(m.get('flash_early_buys_total{item="early",early="more"}'), more);
  t.equal(m.get('flash_early_buys_total{item="early",early="1s"}'), SECOND.length);
  t.equal(m.get('flash_too_fast_answers_total{item="quiz"}'), 2 * FAST.length);
  t.equal(m.get('flash_early_requests_total{item="early",route="ticket"}'), 3);
  t.equal(m.get('flash_early_requests_total{item="later",route="challenge"}'), ASKERS.length);
  t.equal(m.get('flash_suspect_addresses'), 3, 'the /24 of 40 users and the two of 10');
  t.equal(m.get('flash_suspect_users'), listed.usersListed);
  t.equal(m.get('flash_signal_table_full_total{table="users"}'), 0);
  t.equal(m.get('flash_signal_table_full_total{table="addresses"}'), 0);
  return listed;
}

/** Every early buyer and too-fast answerer listed once with its counts, the most suspicious first. */
function checkUsers(t: Test, listed: SignalsBody, nearEarly: number): void {
  const byUser = new Map(listed.users.map((entry) => [entry.user, entry]));
  t.equal(listed.users.length,
    FAR.length + NINE.length + TEN.length + 1 + FAST.length + SECOND.length + nearEarly);
  t.equal(byUser.get(SOCKETS[0]!.user)?.earlyBuys, 1, 'a buy over a WebSocket counts as one over HTTP');
  t.notOk(byUser.has(SOCKETS[1]!.user), 'opening a WebSocket lists no user');
  t.equal(byUser.size, listed.users.length, 'each user once');
  t.ok(FAR.every(({ user }) => byUser.get(user)?.earlyBuys === 2 && byUser.get(user)!.earliestMs > 1000),
    'two early buys each, the earliest more than a second early');
  t.ok(SECOND.every(({ user }) => byUser.get(user)?.earlyBuys === 1
    && byUser.get(user)!.earliestMs > 100 && byUser.get(user)!.earliestMs <= 1000), 'one buy up to 1 s early each');
  t.ok(FAST.every(({ user }) => byUser.get(user)?.tooFastAnswers === 2 && byUser.get(user)!.earlyBuys === 0),
    'two too-fast answers each');
  t.ok(ASKERS.every(({ user }) => !byUser.has(user)), 'asking for a challenge early lists no user');
  const score = (entry: SignalsBody['users'][number]): number => entry.earlyBuys + entry.tooFastAnswers;
  t.ok(listed.users.every((entry, i) => i === 0 || score(listed.users[i - 1]!) >= score(entry)),
    'the most signals first');
  t.same(new Set(listed.users.slice(0, FAR.length).map((entry) => entry.user)), new Set(FAR.map((c) => c.user)),
    'ties broken by how early: the far early buyers before the too-fast answerers');
}

/** Bans a listed user and a listed block; after the start their buys are refused 403 banned, others win. */
async function banFromList(t: Test, session: Session, listed: SignalsBody, startsAt: number): Promise<void> {
  const post = (body: Record<string, unknown>) =>
    request(session.port, 'POST', '/admin/bans', { headers: admin, body: JSON.stringify(body) });
  const user = listed.users.find((entry) => entry.user === TEN[0]!.user)!;
  t.equal((await post({ user: user.user, reason: 'fired early' })).status, 200);
  t.equal((await post({ address: listed.addresses[0]!.address, reason: 'one block, many users' })).status, 200);
  await sleep(startsAt + 50 - Date.now());
  const buyPath = await buyPathOf(session.port, 'early');
  const buy = (client: Client) => session.send('POST', buyPath, client);
  const bannedUser = await buy(TEN[0]!);
  t.equal(bannedUser.status, 403);
  t.equal(bannedUser.json.error, 'banned', 'the banned user');
  for (const client of [FAR[0]!, { user: 900, address: '198.51.100.250' }]) {
    const reply = await buy(client);
    t.same([reply.status, reply.json.error], [403, 'banned'], `${client.address} is in the banned block`);
  }
  t.equal((await buy(TEN[1]!)).status, 200, 'a user of the other listed block, not banned, wins');
  t.equal((await buy(NINE[0]!)).status, 200);
}
