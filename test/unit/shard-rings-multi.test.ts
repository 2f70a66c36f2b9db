// Proves the ring topology for several producers (engine/shard-ring.ts,
// engine/shard-turns.ts) on real threads: two producer threads
// (test/helpers/ring-producer-worker.ts), each with its own request and
// answer ring, feed one consumer thread that runs the engine's own turn loop
// with an echo handler (test/helpers/ring-echo-worker.ts), and the only word
// they share is the shard's doorbell. First, on one thread, the turn loop's
// rules exactly: a turn takes at most RING_TURN_REQUESTS_MAX from each
// producer, applies the control ring before any request it reads, answers
// each producer in its own ring, and a shutdown waits for every ring to
// empty; a producer rings the doorbell's counter only while the worker sleeps.
//
// - 40,000 requests per producer, in bursts of random size with random
//   pauses: every answer returns to the producer that asked with every field
//   intact, and every ring ends empty.
// - Producer 0 adds items through the control ring and publishes their count
//   in shared memory, and both producers name the newest item: the consumer
//   asserts that no request arrives before its item's addItem.
// - No lost wake-up: the consumer sleeps 10 s when nobody rings, and a
//   producer waits as long for answers; the consumer falls asleep thousands
//   of times during the run, and no round trip takes half that.
// - No starvation: while one producer floods (no pauses, its ring always
//   full, rings larger than a turn takes), the other, started once the flood
//   runs, gets all its answers before the flood ends, quickly, and the
//   flooder keeps progressing meanwhile.

import t from 'tap';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { RING_TURN_REQUESTS_MAX } from '../../engine/constants';
import type { Outcome } from '../../engine/error-catalog';
import { emptyOrderView, type OrderView } from '../../engine/shard';
import {
  createShardRings, Doorbell, DOORBELL, readAnswer, Ring, writeAddItem, writeRequest, type RingAddedItem,
  type RingAnswer, type RingRequest, type ShardRings,
} from '../../engine/shard-ring';
import { CONTROL_OP, ShardTurns, type TurnHandler } from '../../engine/shard-turns';
import { echo, ECHO_STATS, ECHO_STATS_FIELDS, type EchoSetup } from '../helpers/ring-echo-worker';
import {
  ANSWER_WAIT_MS, SHARED_ITEMS, type ProducerResult, type ProducerSetup,
} from '../helpers/ring-producer-worker';

const HELPERS = path.join(__dirname, '..', 'helpers');
const PER_PRODUCER = 40_000;
/** Larger than RING_TURN_REQUESTS_MAX, so that a flooding producer's ring holds more than one turn takes. */
const FLOOD_CAPACITY = 4_096;
/**
 * The consumer's sleep when nobody rings, and the producers' wait for
 * answers: a lost wake-up on either side makes a round trip this long.
 */
const SLEEP_MS = ANSWER_WAIT_MS;
const ROUND_TRIP_BOUND_MS = SLEEP_MS / 2;

/** A handler that writes down what the turn loop asks of it, in order. */
class RecordingHandler implements TurnHandler {
  readonly events: string[] = [];
  /** Requests decided per turn, per producer (told apart by user). */
  readonly turns: number[][] = [[0, 0]];

  decide(request: RingRequest, view: OrderView): Outcome {
    if (this.events.at(-1) !== `decide ${request.user}`) this.events.push(`decide ${request.user}`);
    this.turns.at(-1)![request.user]!++;
    return echo(request, view);
  }

  addItem(added: RingAddedItem): void {
    this.events.push(`addItem ${added.itemIndex}`);
  }

  endTurn(): void {
    this.events.push('endTurn');
    this.turns.push([0, 0]);
  }

  sleepMs(): number {
    throw new Error('the loop never sleeps while a shutdown is pending');
  }

  snapshot(): void {
    this.events.push('snapshot');
  }

  close(): void {
    this.events.push('close');
  }
}

t.test('on one thread: a turn takes a bounded batch from each producer, control first, answers to each asker, ' +
  'and a shutdown waits for every ring to empty', async (t) => {
  const rings = createShardRings(2, 4_096);
  const [ring0, ring1] = rings.producers.map((pair) => new Ring(pair.requests)) as [Ring, Ring];
  const control = new Ring(rings.control);
  const flood = RING_TURN_REQUESTS_MAX * 2 + 5;
  // Producer 0 floods; producer 1 sends one request naming an item added after the flood was published.
  for (let index = 0; index < flood; index++) writeRequest(ring0, 1, index, 0, 0, index, 0);
  writeAddItem(control, CONTROL_OP.addItem, 7, false, 7, 1);
  writeRequest(ring1, 2, 0, 7, 1, 0, 0);
  writeRequest(control, CONTROL_OP.snapshot, -1, 0, 0, 0, 0);
  writeRequest(control, CONTROL_OP.shutdown, -1, 0, 0, 0, 0);
  const handler = new RecordingHandler();
  new ShardTurns(rings, handler).run();
  t.same(handler.events.slice(0, 5), ['addItem 7', 'decide 0', 'decide 1', 'endTurn', 'snapshot'],
    'the first turn applies the control ring, then serves both producers, writes once, then snapshots');
  t.same(handler.turns.slice(0, 3), [[RING_TURN_REQUESTS_MAX, 1], [RING_TURN_REQUESTS_MAX, 0], [5, 0]],
    'each turn takes at most RING_TURN_REQUESTS_MAX from the flooding producer, so the other is served in the first');
  t.equal(handler.events.at(-1), 'close', 'the shutdown closes the shard only after the flood is all decided');
  const answer: RingAnswer = { token: 0, outcome: 0, view: emptyOrderView() };
  const answers0 = new Ring(rings.producers[0]!.answers);
  const answers1 = new Ring(rings.producers[1]!.answers);
  t.equal(answers0.available(), flood, 'producer 0 has an answer for each of its requests in its own ring');
  t.equal(answers1.available(), 1, 'producer 1 has its one answer in its own ring');
  readAnswer(answers1, answer);
  t.same([answer.token, answer.outcome, answer.view.userId, answer.view.state], [0, 2, 1, 7], 'and it is its own');
  t.ok([ring0, ring1, control].every((ring) => ring.available() === 0), 'every request and control ring is empty');
});

t.test('a producer writes the doorbell only while the worker sleeps, and a sleep with work waiting returns at once',
  async (t) => {
  const rings = createShardRings(1, 8);
  const doorbell = new Doorbell(rings.doorbell);
  const requests = new Ring(rings.producers[0]!.requests);
  doorbell.ring();
  t.equal(Atomics.load(rings.doorbell, DOORBELL.rings), 0, 'ringing an awake worker writes nothing');
  Atomics.store(rings.doorbell, DOORBELL.sleeping, 1);
  doorbell.ring();
  t.equal(Atomics.load(rings.doorbell, DOORBELL.rings), 1, 'ringing a sleeping worker bumps the counter');
  Atomics.store(rings.doorbell, DOORBELL.sleeping, 0);
  writeRequest(requests, 1, 0, 0, 0, 0, 0);
  const started = performance.now();
  doorbell.sleep([requests], 10_000);
  t.ok(performance.now() - started < 1_000, 'a sleep with an entry waiting returns at once');
  t.equal(Atomics.load(rings.doorbell, DOORBELL.sleeping), 0, 'and leaves the sleeping flag clear');
});

interface Run {
  results: ProducerResult[];
  stats: Int32Array;
  rings: ShardRings;
  itemsKnown: number;
}

function sharedInts(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT));
}

/** Runs two producers against one echo consumer, then shuts the consumer down through the control ring. */
async function runProducers(capacity: number, setups: Omit<ProducerSetup, 'rings' | 'producer' | 'shared'>[]):
  Promise<Run> {
  const rings = createShardRings(setups.length, capacity);
  const stats = sharedInts(ECHO_STATS_FIELDS);
  // Item 0 exists from the start; producer 0 may add more.
  const shared = sharedInts(1 + setups.length);
  shared[SHARED_ITEMS] = 1;
  const echoSetup: EchoSetup = { rings, itemsKnown: 1, sleepMs: SLEEP_MS, stats };
  const consumer = new Worker(path.join(HELPERS, 'ring-echo-worker.js'), { workerData: echoSetup });
  const closed = new Promise<{ itemsKnown: number }>((resolve, reject) => {
    consumer.once('message', resolve);
    consumer.once('error', reject);
  });
  const results = await Promise.all(setups.map((setup, producer) => new Promise<ProducerResult>((resolve, reject) => {
    const worker = new Worker(path.join(HELPERS, 'ring-producer-worker.js'),
      { workerData: { ...setup, rings, producer, shared } satisfies ProducerSetup });
    worker.once('message', resolve);
    worker.once('error', reject);
    consumer.once('error', reject);
  })));
  // The producers have exited: the main thread is now the control ring's only writer.
  writeRequest(new Ring(rings.control), CONTROL_OP.shutdown, -1, 0, 0, 0, 0);
  new Doorbell(rings.doorbell).ring();
  const { itemsKnown } = await closed;
  return { results, stats, rings, itemsKnown };
}

function ringsEmpty(rings: ShardRings): boolean {
  const views = [rings.control, ...rings.producers.flatMap((pair) => [pair.requests, pair.answers])];
  return views.every((view) => new Ring(view).available() === 0);
}

t.test('two producers with random pauses: every answer returns whole to its producer, items arrive in order, ' +
  'no wake-up is lost, and every ring ends empty', async (t) => {
  const common = {
    total: PER_PRODUCER, pauseChance: 0.02, snapshotHalfway: false, addItemEvery: 0, startAfterOther: 0,
    stopAfterOther: 0,
  };
  const run = await runProducers(64, [
    { ...common, seed: 1, addItemEvery: 500, snapshotHalfway: true },
    { ...common, seed: 2 },
  ]);
  run.results.forEach((result, producer) => {
    t.equal(result.answered, PER_PRODUCER, `producer ${producer} got all ${PER_PRODUCER} answers`);
    t.same(result.mismatches, [], `producer ${producer}'s answers carry its requests' fields`);
    t.ok(result.roundTripMaxMs < ROUND_TRIP_BOUND_MS,
      `producer ${producer}'s slowest round trip, ${result.roundTripMaxMs.toFixed(1)} ms, is under ` +
      `${ROUND_TRIP_BOUND_MS} ms: no publish went unnoticed by a sleeping thread`);
  });
  const sleeps = Atomics.load(run.stats, ECHO_STATS.sleeps);
  t.ok(sleeps > 100, `the consumer went to sleep ${sleeps} times, so producers woke it through the doorbell`);
  t.equal(Atomics.load(run.stats, ECHO_STATS.snapshots), 1, 'the snapshot request was served once');
  t.equal(run.itemsKnown, 1 + PER_PRODUCER / 500, 'every item added through the control ring was applied');
  t.ok(ringsEmpty(run.rings), 'the control ring and every request and answer ring end empty');
});

t.test('a flooding producer does not starve the other, and keeps progressing itself', async (t) => {
  const lightTotal = PER_PRODUCER / 20;
  const run = await runProducers(FLOOD_CAPACITY, [
    {
      total: PER_PRODUCER * 100, seed: 3, pauseChance: 0, addItemEvery: 0, snapshotHalfway: false,
      startAfterOther: 0, stopAfterOther: lightTotal,
    },
    {
      total: lightTotal, seed: 4, pauseChance: 0.05, addItemEvery: 0, snapshotHalfway: false,
      startAfterOther: FLOOD_CAPACITY, stopAfterOther: 0,
    },
  ]);
  const [flooder, light] = run.results as [ProducerResult, ProducerResult];
  t.equal(light.answered, lightTotal, `the light producer got all ${lightTotal} answers during the flood`);
  t.same([...flooder.mismatches, ...light.mismatches], [], 'every answer carries its request\'s fields');
  t.ok(light.otherAnsweredAtStart >= FLOOD_CAPACITY, 'the light producer started once the flood was running');
  t.ok(light.otherAnsweredAtEnd > light.otherAnsweredAtStart,
    `the flooder progressed while the light producer ran (${light.otherAnsweredAtStart} to ` +
    `${light.otherAnsweredAtEnd} answered)`);
  t.ok(light.roundTripMaxMs < ROUND_TRIP_BOUND_MS,
    `the light producer's slowest round trip under the flood was ${light.roundTripMaxMs.toFixed(1)} ms`);
  t.ok(flooder.answered >= light.otherAnsweredAtEnd,
    `the flooder was answered every request it sent (${flooder.answered})`);
  t.ok(ringsEmpty(run.rings), 'every ring ends empty');
});
