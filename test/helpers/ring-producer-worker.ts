// A producer thread for test/unit/shard-rings-multi.test.ts: it plays one
// HTTP thread as worker-shards.ts does (a token pool the size of its rings,
// writeRequest, then the shard's doorbell) but blocks in Atomics.wait for
// answers instead of waiting asynchronously. Every field of a request
// encodes the producer and the request's index, so the test can tell that
// an answer came back whole and to the producer that asked. Producer 0 may
// also add items through the control ring and publish their count in
// shared memory, as the main thread would before other HTTP threads use
// them; every producer names the newest published item.

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { emptyOrderView } from '../../engine/shard';
import {
  Doorbell, HEAD, readAnswer, Ring, writeAddItem, writeRequest, type RingAnswer, type ShardRings,
} from '../../engine/shard-ring';
import { CONTROL_OP } from '../../engine/shard-turns';
import { mulberry32, type Rand } from './seeded-random';

export interface ProducerSetup {
  rings: ShardRings;
  producer: number;
  total: number;
  seed: number;
  /** Chance, per request sent, of a pause of up to 3 ms with nothing sent; 0 floods. */
  pauseChance: number;
  /** Producer 0 only: add an item through the control ring every this many requests (0: never). */
  addItemEvery: number;
  /** Producer 0 only: ask for one snapshot when half its requests are sent. */
  snapshotHalfway: boolean;
  /** [0] items published; then answers received so far, one word per producer. */
  shared: Int32Array;
  /** Starts sending once the other producer has this many answers (0: at once). */
  startAfterOther: number;
  /** Stops sending once the other producer has this many answers (0: never), so a flood outlasts it. */
  stopAfterOther: number;
}

/** How long a producer waits for an answer before it looks again: a lost wake-up costs this much. */
export const ANSWER_WAIT_MS = 10_000;

export const SHARED_ITEMS = 0;
export const sharedAnsweredOf = (producer: number): number => 1 + producer;

export interface ProducerResult {
  answered: number;
  mismatches: string[];
  roundTripMaxMs: number;
  /** The other producer's answered count when this one sent its first request and got its last answer. */
  otherAnsweredAtStart: number;
  otherAnsweredAtEnd: number;
}

/** The fields of request `index` from `producer`: all distinct, some beyond 32 bits. */
export function requestFields(producer: number, index: number, item: number):
  { op: number; item: number; user: number; argument: number; nowMs: number } {
  return {
    op: 1 + (index % 5), item, user: Number.MAX_SAFE_INTEGER - producer * 1e9 - index,
    argument: 2 ** 40 + producer * 1e9 + index, nowMs: 1.7e12 + producer * 1e9 + index * 1.25,
  };
}

class Producer {
  private readonly requests: Ring;
  private readonly answers: Ring;
  private readonly control: Ring;
  private readonly doorbell: Doorbell;
  private readonly capacity: number;
  private readonly sentIndex: Int32Array;
  private readonly sentItem: Int32Array;
  private readonly sentAt: Float64Array;
  private readonly freeTokens: number[];
  private readonly answer: RingAnswer = { token: 0, outcome: 0, view: emptyOrderView() };
  private readonly random: Rand;
  private readonly pauseWord = new Int32Array(new SharedArrayBuffer(4));
  readonly result: ProducerResult = {
    answered: 0, mismatches: [], roundTripMaxMs: 0, otherAnsweredAtStart: 0, otherAnsweredAtEnd: 0,
  };
  private sent = 0;

  constructor(private readonly setup: ProducerSetup) {
    const own = setup.rings.producers[setup.producer]!;
    this.requests = new Ring(own.requests);
    this.answers = new Ring(own.answers);
    this.control = new Ring(setup.rings.control);
    this.doorbell = new Doorbell(setup.rings.doorbell);
    this.capacity = own.answers.capacity;
    this.sentIndex = new Int32Array(this.capacity);
    this.sentItem = new Int32Array(this.capacity);
    this.sentAt = new Float64Array(this.capacity);
    this.freeTokens = Array.from({ length: this.capacity }, (_, token) => token);
    this.random = mulberry32(setup.seed);
  }

  run(): ProducerResult {
    const setup = this.setup;
    const other = sharedAnsweredOf(1 - setup.producer);
    while (Atomics.load(setup.shared, other) < setup.startAfterOther) Atomics.wait(this.pauseWord, 0, 0, 1);
    this.result.otherAnsweredAtStart = Atomics.load(setup.shared, other);
    while (this.result.answered < this.sent || this.mayStillSend(other)) {
      this.sendBurst();
      // Head before the drain, as worker-shards.ts arm(): an answer published
      // after the drain's last look makes the wait return at once.
      const head = Atomics.load(this.answers.header, HEAD);
      let received = 0;
      for (; this.answers.available() > 0; received++) this.receive();
      const inFlight = this.capacity - this.freeTokens.length;
      if (received === 0 && inFlight > 0) Atomics.wait(this.answers.header, HEAD, head, ANSWER_WAIT_MS);
    }
    this.result.otherAnsweredAtEnd = Atomics.load(this.setup.shared, other);
    return this.result;
  }

  private mayStillSend(other: number): boolean {
    const stopAfter = this.setup.stopAfterOther;
    return this.sent < this.setup.total && (stopAfter === 0 || Atomics.load(this.setup.shared, other) < stopAfter);
  }

  /** Sends a burst of random size, pausing now and then so that the worker falls asleep between bursts. */
  private sendBurst(): void {
    const burst = 1 + Math.floor(this.random() * this.capacity);
    const other = sharedAnsweredOf(1 - this.setup.producer);
    for (let count = 0; count < burst && this.freeTokens.length > 0 && this.mayStillSend(other); count++) {
      if (this.random() < this.setup.pauseChance) {
        Atomics.wait(this.pauseWord, 0, 0, this.random() * 3);
        return;
      }
      this.control0();
      const token = this.freeTokens.pop()!;
      const item = Atomics.load(this.setup.shared, SHARED_ITEMS) - 1;
      const r = requestFields(this.setup.producer, this.sent, item);
      this.sentIndex[token] = this.sent++;
      this.sentItem[token] = item;
      this.sentAt[token] = performance.now();
      writeRequest(this.requests, r.op, token, r.item, r.user, r.argument, r.nowMs);
      this.doorbell.ring();
    }
  }

  /** Producer 0's control requests: an item now and then, published after its addItem; one snapshot. */
  private control0(): void {
    const setup = this.setup;
    if (setup.addItemEvery > 0 && this.sent % setup.addItemEvery === 0) {
      const items = Atomics.load(setup.shared, SHARED_ITEMS);
      writeAddItem(this.control, CONTROL_OP.addItem, items, false, items, 1);
      this.doorbell.ring();
      Atomics.store(setup.shared, SHARED_ITEMS, items + 1);
    }
    if (setup.snapshotHalfway && this.sent === setup.total >> 1) {
      writeRequest(this.control, CONTROL_OP.snapshot, -1, 0, 0, 0, 0);
      this.doorbell.ring();
    }
  }

  private receive(): void {
    const answer = this.answer;
    readAnswer(this.answers, answer);
    const token = answer.token;
    const roundTripMs = performance.now() - this.sentAt[token]!;
    if (roundTripMs > this.result.roundTripMaxMs) this.result.roundTripMaxMs = roundTripMs;
    const r = requestFields(this.setup.producer, this.sentIndex[token]!, this.sentItem[token]!);
    const view = answer.view;
    const got = [answer.outcome, view.orderId, view.userId, view.state, view.createdAt, view.payBy];
    const expected = [r.op, r.argument, r.user, r.item, r.nowMs, -r.nowMs];
    if (got.some((value, at) => value !== expected[at]) && this.result.mismatches.length < 5) {
      this.result.mismatches.push(`producer ${this.setup.producer} token ${token}: ${got} != ${expected}`);
    }
    this.freeTokens.push(token);
    this.result.answered++;
    Atomics.store(this.setup.shared, sharedAnsweredOf(this.setup.producer), this.result.answered);
  }
}

function main(): void {
  assert.ok(parentPort);
  parentPort.postMessage(new Producer(workerData as ProducerSetup).run());
}

// Imported by the test for its types and helpers; runs only as a worker.
if (!isMainThread) main();
