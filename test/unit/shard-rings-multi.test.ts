// Proves the ring topology for several producers (engine/shard-ring.ts,
// engine/shard-turns.ts) on real threads: two producer threads
// (test/helpers/ring-producer-worker.ts), each with its own request and
// answer ring, feed one consumer thread that runs the engine's own turn loop
// with an echo handler (test/helpers/ring-echo-worker.ts), and the only word
// they share is the shard's doorbell.
//
// - 40,000 requests per producer, in bursts of random size with random
//   pauses: every answer returns to the producer that asked with every field
//   intact, and every ring ends empty.
// - Producer 0 adds items through the control ring and publishes their count
//   in shared memory, and both producers name the newest item: the consumer
//   asserts that no request arrives before its item's addItem.
// - No lost wake-up: the consumer sleeps 10 s when nobody rings, and it falls
//   asleep thousands of times during the run; no round trip takes half that.
// - No starvation: while one producer floods (no pauses, its ring always
//   full, rings larger than a turn takes), the other, started once the flood
//   runs, gets all its answers before the flood ends, quickly, and the
//   flooder keeps progressing meanwhile.

import t from 'tap';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createShardRings, Doorbell, Ring, writeRequest, type ShardRings } from '../../engine/shard-ring';
import { CONTROL_OP } from '../../engine/shard-turns';
import { ECHO_STATS, ECHO_STATS_FIELDS, type EchoSetup } from '../helpers/ring-echo-worker';
import { SHARED_ITEMS, type ProducerResult, type ProducerSetup } from '../helpers/ring-producer-worker';

const HELPERS = path.join(__dirname, '..', 'helpers');
const PER_PRODUCER = 40_000;
/** Larger than RING_TURN_REQUESTS_MAX, so that a flooding producer's ring holds more than one turn takes. */
const FLOOD_CAPACITY = 4_096;
/** The consumer's sleep when nobody rings; a lost wake-up would make a round trip at least this long. */
const SLEEP_MS = 10_000;
const ROUND_TRIP_BOUND_MS = SLEEP_MS / 2;

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
      `${ROUND_TRIP_BOUND_MS} ms: no publish went unnoticed by a sleeping consumer`);
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
