// Proves the ring protocol of engine/shard-ring.ts: every request field
// (op, token, item, user, argument, nowMs) and every answer field (token,
// outcome, orderId, user, state, createdAt, payBy) arrives exactly as
// written, in order. On one thread: a ring takes capacity - 1 and capacity
// entries and refuses capacity + 1 (an assertion, since the token pool must
// prevent it), across the 2^31 wrap of head and tail; an addItem request
// reads back by its own names. Across two real threads: a worker
// (test/helpers/ring-echo-worker.ts) runs the engine's turn loop and echoes
// each request as an answer while the main thread, the one producer, keeps
// at most `capacity` requests in flight, as worker-shards.ts does, for many
// times the ring's size, with head and tail starting just before the wrap;
// every answer must match the request sent with its token, and both rings
// must end empty. test/unit/shard-rings-multi.test.ts covers two producers.

import t from 'tap';
import { AssertionError } from 'node:assert';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Outcome } from '../../engine/error-catalog';
import { emptyOrderView, OP, type OrderView } from '../../engine/shard';
import {
  ANSWER_FIELDS, createRing, createShardRings, Doorbell, emptyRequest, HEAD, nextOp, readAddItem, readAnswer,
  readRequest, REQUEST_FIELDS, Ring, TAIL, writeAddItem, writeAnswer, writeRequest, type RingAnswer, type RingViews,
} from '../../engine/shard-ring';
import { CONTROL_OP } from '../../engine/shard-turns';
import { ECHO_STATS_FIELDS, type EchoSetup } from '../helpers/ring-echo-worker';

const CAPACITY = 8;
/** Head and tail start here so that a few entries cross the wrap at 2^31. */
const NEAR_WRAP = 0x7fffffff - 3;

/** The request sent as the `index`th: every field distinct and beyond 32 bits where a field may be. */
function requestFields(index: number): { op: number; item: number; user: number; argument: number; nowMs: number } {
  return {
    op: 1 + (index % 5),
    item: index % 100_000,
    user: Number.MAX_SAFE_INTEGER - index,
    argument: 2 ** 40 + index,
    nowMs: 1.7e12 + index * 1.25,
  };
}

/** The order view answered as the `index`th. */
function answerView(index: number): OrderView {
  return {
    orderId: 2 ** 45 + index, userId: Number.MAX_SAFE_INTEGER - index, state: index % 4,
    createdAt: 1.7e12 + index, payBy: 1.8e12 + index, place: index,
  };
}

function startAt(views: RingViews, position: number): void {
  Atomics.store(views.header, HEAD, position);
  Atomics.store(views.header, TAIL, position);
}

t.test('a request ring takes capacity - 1 and capacity requests, refuses capacity + 1, returns each field in order',
  async (t) => {
  const views = createRing(CAPACITY, REQUEST_FIELDS);
  startAt(views, NEAR_WRAP);
  const ring = new Ring(views);
  for (let index = 0; index < CAPACITY - 1; index++) {
    const r = requestFields(index);
    writeRequest(ring, r.op, index, r.item, r.user, r.argument, r.nowMs);
  }
  t.equal(ring.available(), CAPACITY - 1, 'capacity - 1 requests are waiting');
  t.equal(ring.space(), 1, 'with one slot left');
  const last = requestFields(CAPACITY - 1);
  writeRequest(ring, last.op, CAPACITY - 1, last.item, last.user, last.argument, last.nowMs);
  t.equal(ring.available(), CAPACITY, 'capacity requests are waiting');
  t.throws(() => writeRequest(ring, OP.buy, CAPACITY, 0, 1, 0, 0), AssertionError, 'capacity + 1 is refused');
  t.equal(ring.available(), CAPACITY, 'and the refused request is not in the ring');
  const read = emptyRequest();
  for (let index = 0; index < CAPACITY; index++) {
    readRequest(ring, read);
    t.same(read, { ...requestFields(index), token: index }, `request ${index} reads back whole`);
  }
  t.equal(ring.available(), 0, 'the ring is empty after reading them all');
  t.ok(Atomics.load(views.header, HEAD) < NEAR_WRAP, 'head wrapped past 2^31 on the way');
});

t.test('an answer ring takes capacity answers in one batch, refuses one more, and returns each field in order',
  async (t) => {
  const views = createRing(CAPACITY, ANSWER_FIELDS);
  startAt(views, NEAR_WRAP);
  const ring = new Ring(views);
  const view = emptyOrderView();
  for (let ahead = 0; ahead < CAPACITY; ahead++) {
    Object.assign(view, answerView(ahead));
    writeAnswer(ring, ahead, 100 + ahead, (ahead % 3) as Outcome, view);
  }
  t.throws(() => writeAnswer(ring, CAPACITY, 0, 0, view), AssertionError, 'an answer past capacity is refused');
  t.equal(ring.available(), 0, 'nothing is visible before publish');
  ring.publish(CAPACITY);
  t.equal(ring.available(), CAPACITY, 'capacity answers are visible after one publish');
  const answer: RingAnswer = { token: 0, outcome: 0, view: emptyOrderView() };
  for (let index = 0; index < CAPACITY; index++) {
    readAnswer(ring, answer);
    const expected = { token: 100 + index, outcome: index % 3, view: answerView(index) };
    t.same(answer, expected, `answer ${index} reads back whole`);
  }
  t.equal(ring.available(), 0, 'the ring is empty after reading them all');
});

t.test('an addItem request reads back by its own names', async (t) => {
  const ring = new Ring(createRing(CAPACITY, REQUEST_FIELDS));
  const ADD_ITEM_OP = 102;
  writeAddItem(ring, ADD_ITEM_OP, 99_999, true, 123_456, 2 ** 33);
  writeAddItem(ring, ADD_ITEM_OP, 7, false, 1, 0);
  t.equal(nextOp(ring), ADD_ITEM_OP, 'the op is seen before reading');
  const added = { itemIndex: 0, reserve: false, row: 0, stock: 0 };
  readAddItem(ring, added);
  t.same(added, { itemIndex: 99_999, reserve: true, row: 123_456, stock: 2 ** 33 }, 'a reserve item');
  readAddItem(ring, added);
  t.same(added, { itemIndex: 7, reserve: false, row: 1, stock: 0 }, 'an order-mode item');
  t.equal(ring.available(), 0);
});

/** The main thread's side, as worker-shards.ts runs it: a token per answer slot, sent and awaited. */
interface EchoResult {
  answered: number;
  mismatches: string[];
  requests: Ring;
  answers: Ring;
}

async function echoThroughWorker(total: number): Promise<EchoResult> {
  const rings = createShardRings(1, CAPACITY);
  const { requests: requestViews, answers: answerViews } = rings.producers[0]!;
  startAt(requestViews, NEAR_WRAP);
  startAt(answerViews, NEAR_WRAP);
  const requests = new Ring(requestViews);
  const answers = new Ring(answerViews);
  const doorbell = new Doorbell(rings.doorbell);
  const stats = new Int32Array(new SharedArrayBuffer(ECHO_STATS_FIELDS * Int32Array.BYTES_PER_ELEMENT));
  const setup: EchoSetup = { rings, itemsKnown: 100_000, sleepMs: 50, stats };
  const worker = new Worker(path.join(__dirname, '..', 'helpers', 'ring-echo-worker.js'), { workerData: setup });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const sentIndex = new Int32Array(CAPACITY).fill(-1);
  const freeTokens = Array.from({ length: CAPACITY }, (_, token) => token);
  const answer: RingAnswer = { token: 0, outcome: 0, view: emptyOrderView() };
  const mismatches: string[] = [];
  let sent = 0;
  let answered = 0;
  while (answered < total) {
    while (freeTokens.length > 0 && sent < total) {
      const token = freeTokens.pop()!;
      const r = requestFields(sent);
      sentIndex[token] = sent++;
      writeRequest(requests, r.op, token, r.item, r.user, r.argument, r.nowMs);
      doorbell.ring();
    }
    const head = Atomics.load(answers.header, HEAD);
    if (head === Atomics.load(answers.header, TAIL)) {
      const wait = Atomics.waitAsync(answers.header, HEAD, head, 1000);
      if (wait.async) await wait.value;
      continue;
    }
    readAnswer(answers, answer);
    const r = requestFields(sentIndex[answer.token]!);
    const expected = { op: r.op, user: r.user, item: r.item, argument: r.argument, nowMs: r.nowMs, payBy: -r.nowMs };
    const view = answer.view;
    const got = {
      op: answer.outcome, user: view.userId, item: view.state, argument: view.orderId,
      nowMs: view.createdAt, payBy: view.payBy,
    };
    const [gotText, expectedText] = [JSON.stringify(got), JSON.stringify(expected)];
    if (gotText !== expectedText) mismatches.push(`token ${answer.token}: ${gotText} != ${expectedText}`);
    freeTokens.push(answer.token);
    answered++;
  }
  writeRequest(new Ring(rings.control), CONTROL_OP.shutdown, -1, 0, 0, 0, 0);
  doorbell.ring();
  await exited;
  return { answered, mismatches, requests, answers };
}

t.test('across two threads, every field of many requests and answers survives, through wrap-around and full rings',
  async (t) => {
  const total = CAPACITY * 5_000;
  const result = await echoThroughWorker(total);
  t.equal(result.answered, total, `all ${total} requests were answered`);
  t.same(result.mismatches.slice(0, 5), [], 'every answer carries its request\'s fields');
  t.equal(result.requests.available(), 0, 'the request ring ends empty');
  t.equal(result.answers.available(), 0, 'the answer ring ends empty');
  t.ok(Atomics.load(result.answers.header, HEAD) < NEAR_WRAP, 'the answer ring\'s head wrapped past 2^31');
});
