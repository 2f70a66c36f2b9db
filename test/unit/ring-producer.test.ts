// One HTTP thread's side of the shard rings (engine/ring-producer.ts), with
// this test standing in for the shard: an answer published on the ring is
// sent through its reply and gives the user's in-flight claim back; a full
// token pool refuses at once and gives the claim back; a dead shard's
// pending requests are refused 503 and it gets no more; close() waits for
// what is pending and refuses what comes after.

import t from 'tap';
import { OUTCOME, type Outcome } from '../../engine/error-catalog';
import { InFlightUsers } from '../../engine/in-flight-users';
import type { Reply } from '../../engine/reply';
import { RingProducer } from '../../engine/ring-producer';
import { emptyOrderView, OP, type OrderView } from '../../engine/shard';
import type { Answerer } from '../../engine/shard-dispatcher';
import { inFlightBound } from '../../engine/shared-state';
import { createShardRings, emptyRequest, HEAD, readRequest, Ring, writeAnswer } from '../../engine/shard-ring';

const SLOTS = 4;

class Answers implements Answerer {
  readonly seen: { op: number; item: number; outcome: Outcome }[] = [];
  answer(_reply: Reply, op: number, itemIndex: number, outcome: Outcome, _view: OrderView): void {
    this.seen.push({ op, item: itemIndex, outcome });
  }
}

const reply = (): Reply => ({ aborted: false, watch: () => undefined, cork: (write) => write(),
  answer: () => undefined, refuse: () => undefined });

function setUp(): { producer: RingProducer; answers: Answers; inFlight: InFlightUsers; requests: Ring;
  answerRing: Ring } {
  const rings = createShardRings(1, SLOTS);
  const answers = new Answers();
  const inFlight = new InFlightUsers(inFlightBound(1, SLOTS, 1));
  const producer = new RingProducer([rings], 0, answers, inFlight);
  producer.start();
  return { producer, answers, inFlight, requests: new Ring(rings.producers[0]!.requests),
    answerRing: new Ring(rings.producers[0]!.answers) };
}

/** Dispatches a buy for `user` the way a transport does: claimed first. */
function buy(producer: RingProducer, inFlight: InFlightUsers, user: number): void {
  if (!inFlight.add(user)) throw new Error(`user ${user} already in flight`);
  producer.dispatch(reply(), OP.buy, 0, user, 0, Date.now(), performance.now());
}

/** As a shard's turn ends (shard-turns.ts): publish, then wake the producer. */
function publishAnswer(ring: Ring): void {
  ring.publish(1);
  Atomics.notify(ring.header, HEAD);
}

const until = async (done: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
};

t.test('an answer on the ring is sent and gives the claim back; a full pool refuses at once', async (t) => {
  const { producer, answers, inFlight, requests, answerRing } = setUp();
  buy(producer, inFlight, 5);
  t.equal(producer.pending(), 1);
  const request = emptyRequest();
  readRequest(requests, request);
  t.same([request.op, request.user], [OP.buy, 5], 'the request is on the ring');
  writeAnswer(answerRing, 0, request.token, OUTCOME.ok, emptyOrderView());
  publishAnswer(answerRing);
  await until(() => answers.seen.length === 1);
  t.same(answers.seen, [{ op: OP.buy, item: 0, outcome: OUTCOME.ok }], 'answered through the answerer');
  t.notOk(inFlight.has(5), 'the claim is given back');
  for (let user = 10; user < 10 + SLOTS; user++) buy(producer, inFlight, user);
  buy(producer, inFlight, 99);
  t.same(answers.seen[1], { op: OP.buy, item: 0, outcome: OUTCOME.overloaded }, 'the fifth is refused at once');
  t.notOk(inFlight.has(99), 'and its claim given back');
  t.equal(producer.pending(), SLOTS);
  producer.shardDied(0);
  t.equal(answers.seen.filter((a) => a.outcome === OUTCOME.overloaded).length, 1 + SLOTS,
    'a dead shard\'s pending requests are refused');
  t.equal(inFlight.size, 0, 'with their claims');
  t.equal(producer.pending(), 0);
  buy(producer, inFlight, 100);
  t.equal(answers.seen.at(-1)!.outcome, OUTCOME.overloaded, 'a dead shard gets no more requests');
  await producer.close();
  t.pass('close() resolves with nothing pending');
});

t.test('close() waits for the answers pending, then refuses new requests', async (t) => {
  const { producer, answers, inFlight, requests, answerRing } = setUp();
  buy(producer, inFlight, 7);
  let closed = false;
  const closing = producer.close().then(() => (closed = true));
  buy(producer, inFlight, 8);
  t.same(answers.seen, [{ op: OP.buy, item: 0, outcome: OUTCOME.overloaded }], 'after close(): refused at once');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(closed, 'not closed while an answer is pending');
  const request = emptyRequest();
  readRequest(requests, request);
  writeAnswer(answerRing, 0, request.token, OUTCOME.sold_out, emptyOrderView());
  publishAnswer(answerRing);
  await closing;
  t.equal(answers.seen.at(-1)!.outcome, OUTCOME.sold_out, 'the pending answer was sent first');
  t.equal(inFlight.size, 0);
});
