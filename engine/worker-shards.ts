// --workers N: N shard worker threads, item i owned by worker i % N. The
// HTTP thread is a producer (shard-ring.ts draws the topology): it writes
// requests into its own request ring to each worker, rings the worker's
// doorbell, and reads answers from its own answer ring; Atomics.waitAsync
// tells it when answers arrive. Cross-thread design: shared memory with
// Atomics, one single-producer single-consumer ring pair per producer and
// shard, so producers share no lock and no written word while the workers
// are busy. A producer's in-flight requests to a shard are bounded by its
// token pool, the size of its rings: when the pool is empty the buy is
// refused 503 at once.

import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type pino from 'pino';
import type { StoredItem } from '../persistence/database';
import { OUTCOME, type Outcome } from './error-catalog';
import type { InFlightUsers } from './in-flight-users';
import { emptyOrderView, OP } from './shard';
import type { Reply } from './reply';
import type { Answerer, ShardDispatcher } from './shard-dispatcher';
import { localIndexOf, shardOf } from './shard-dispatcher';
import {
  Doorbell, HEAD, readAnswer, Ring, writeAddItem, writeRequest, type RingAnswer, type ShardRings,
} from './shard-ring';
import { MAIN_PRODUCER, type SharedState } from './shared-state';
import type { ShardSetup } from './shard-loader';
import type { WorkerSetup } from './shard-worker';
import { CONTROL_OP } from './shard-turns';
import type { ShardSnapshot } from './snapshot';


/** One producer's side of one shard: its rings to the shard, its token pool, and the worker's handle. */
class ShardLink {
  readonly requests: Ring;
  readonly answers: Ring;
  readonly doorbell: Doorbell;
  /** Written by producer MAIN_PRODUCER only (shard-turns.ts says why). */
  readonly control: Ring | null;
  readonly pendingReplies: (Reply | null)[];
  readonly pendingOp: Uint8Array;
  readonly pendingItem: Int32Array;
  readonly pendingStartedAt: Float64Array;
  readonly pendingUser: Float64Array;
  readonly freeTokens: Int32Array;
  freeCount: number;
  onMessage: ((message: { type: string; snapshot?: ShardSnapshot }) => void) | null = null;
  exited = false;

  constructor(readonly worker: Worker, rings: ShardRings, producer: number) {
    const own = rings.producers[producer]!;
    this.requests = new Ring(own.requests);
    this.answers = new Ring(own.answers);
    this.doorbell = new Doorbell(rings.doorbell);
    this.control = producer === MAIN_PRODUCER ? new Ring(rings.control) : null;
    // One token per answer-ring slot: this producer's in-flight bound on the shard.
    const slots = own.answers.capacity;
    assert.equal(own.requests.capacity, slots);
    this.pendingReplies = new Array<Reply | null>(slots).fill(null);
    this.pendingOp = new Uint8Array(slots);
    this.pendingItem = new Int32Array(slots);
    this.pendingStartedAt = new Float64Array(slots);
    this.pendingUser = new Float64Array(slots);
    this.freeTokens = Int32Array.from({ length: slots }, (_, i) => slots - 1 - i);
    this.freeCount = slots;
  }

  /** Producer MAIN_PRODUCER's control ring; any other producer asking for it is a bug. */
  controlRing(): Ring {
    assert.ok(this.control !== null, 'only the main thread sends control requests');
    return this.control;
  }
}

/** What the worker shards need from the engine besides their setups. */
export interface WorkerShardsContext {
  answerer: Answerer;
  /** Where the rings, `left` and the counters live. */
  shared: SharedState;
  log: pino.Logger;
  inFlight: InFlightUsers;
  /** Told when a worker dies: the engine stops, since the dead shard's items cannot be sold elsewhere. */
  onFatal: (reason: string) => void;
}

/**
 * The main thread's handle on the shard workers: it starts them, and as
 * producer MAIN_PRODUCER it dispatches requests and sends every control
 * request (snapshot, shutdown, addItem).
 */
export class WorkerShards implements ShardDispatcher {
  private readonly links: ShardLink[] = [];
  private readonly view = emptyOrderView();
  /** The answer being read from a ring; its view is `view`, which the answerer reads. */
  private readonly answer: RingAnswer = { token: 0, outcome: OUTCOME.ok, view: this.view };
  private closing = false;
  readonly left: Int32Array;
  readonly counters: Float64Array;
  private readonly answerer: Answerer;
  private readonly log: pino.Logger;
  private readonly inFlight: InFlightUsers;

  private constructor(private readonly context: WorkerShardsContext) {
    this.answerer = context.answerer;
    this.left = context.shared.left;
    this.counters = context.shared.counters;
    this.log = context.log;
    this.inFlight = context.inFlight;
  }

  /** Starts one worker per setup, each on the rings SharedState made for its index. */
  static async start(setups: ShardSetup[], dataDir: string, context: WorkerShardsContext): Promise<WorkerShards> {
    const rings = context.shared.rings;
    assert.equal(rings.length, setups.length);
    const shards = new WorkerShards(context);
    await Promise.all(setups.map((setup) => shards.startOne({ ...setup, dataDir, rings: rings[setup.index]! })));
    shards.links.sort((a, b) => a.worker.threadId - b.worker.threadId);
    return shards;
  }

  private startOne(setup: WorkerSetup): Promise<void> {
    const worker = new Worker(path.join(__dirname, 'shard-worker.js'),
      { workerData: setup, name: `shard-${setup.index}` });
    const link = new ShardLink(worker, setup.rings, MAIN_PRODUCER);
    this.links[setup.index] = link;
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (message: { type: string }) => {
        if (message.type === 'ready') {
          worker.off('error', reject);
          worker.on('error', (error) => this.workerDied(setup.index, error));
          worker.on('exit', (code) => {
            link.exited = true;
            if (!this.closing) this.workerDied(setup.index, new Error(`exited with code ${code}`));
          });
          this.arm(link);
          resolve();
        } else link.onMessage?.(message);
      });
    });
  }

  /** A dead shard cannot answer and its items cannot be sold elsewhere: fail loudly, restart recovers. */
  private workerDied(index: number, error: Error): void {
    this.log.fatal({ shard: index, err: error }, 'shard worker died; failing in-flight requests and stopping');
    const link = this.links[index]!;
    for (let token = 0; token < link.pendingReplies.length; token++) {
      const reply = link.pendingReplies[token];
      if (reply && link.pendingOp[token] === OP.buy) this.inFlight.remove(link.pendingUser[token]!);
      if (reply && !reply.aborted) {
        reply.cork(() => this.answerer.answer(reply, link.pendingOp[token]!, link.pendingItem[token]!,
          OUTCOME.overloaded, this.view, 0));
      }
      link.pendingReplies[token] = null;
    }
    this.context.onFatal('shard worker died');
  }

  dispatch(reply: Reply, op: number, itemIndex: number, userId: number, argument: number, nowMs: number,
    startedAt: number): void {
    const link = this.links[shardOf(itemIndex, this.links.length)]!;
    if (link.freeCount === 0 || this.closing) {
      // Called from a request handler or from a corked body callback: already corked.
      this.answerer.answer(reply, op, itemIndex, OUTCOME.overloaded, this.view, 0);
      return;
    }
    // Always attached here, even when the body reader attached one: a flag
    // on the reply is no proof this request has a handler, and
    // answering later without one makes uWebSockets.js end the process.
    reply.watch();
    const token = link.freeTokens[--link.freeCount]!;
    link.pendingReplies[token] = reply;
    link.pendingOp[token] = op;
    link.pendingItem[token] = itemIndex;
    link.pendingStartedAt[token] = startedAt;
    link.pendingUser[token] = userId;
    // The buy gate found the user without a buy in flight, in this same
    // synchronous turn of the one HTTP thread: the claim cannot fail. With
    // several producers it could, and must then be refused, not asserted.
    if (op === OP.buy) assert.ok(this.inFlight.add(userId), 'a second buy in flight for one user');
    writeRequest(link.requests, op, token, localIndexOf(itemIndex, this.links.length), userId, argument, nowMs);
    link.doorbell.ring();
  }

  /** Answers everything the worker has published, then waits (asynchronously) for more. */
  private arm(link: ShardLink): void {
    for (;;) {
      // Head is read before the drain: an answer published after the drain's
      // last look then makes the wait return at once instead of waiting for
      // the worker's next publish, which may never come.
      const head = Atomics.load(link.answers.header, HEAD);
      this.drain(link);
      const wait = Atomics.waitAsync(link.answers.header, HEAD, head);
      if (wait.async) {
        void wait.value.then(() => this.arm(link));
        return;
      }
    }
  }

  private drain(link: ShardLink): void {
    const answers = link.answers;
    const answer = this.answer;
    // One clock read for the whole drain: every answer in it leaves now.
    const answeredAt = answers.available() > 0 ? performance.now() : 0;
    while (answers.available() > 0) {
      readAnswer(answers, answer);
      const token = answer.token;
      const reply = link.pendingReplies[token] ?? null;
      link.freeTokens[link.freeCount++] = token;
      // A worker that died had its requests answered 503 already (workerDied).
      if (reply === null) continue;
      link.pendingReplies[token] = null;
      if (link.pendingOp[token] === OP.buy) this.inFlight.remove(link.pendingUser[token]!);
      if (!reply.aborted) {
        this.currentReply = reply;
        this.currentOp = link.pendingOp[token]!;
        this.currentItem = link.pendingItem[token]!;
        this.currentOutcome = answer.outcome;
        this.currentWaited = answeredAt - link.pendingStartedAt[token]!;
        reply.cork(this.answerCurrent);
      }
    }
  }

  // The answer being sent; fields so that cork() needs no closure per answer.
  private currentReply: Reply | null = null;
  private currentOp = 0;
  private currentItem = 0;
  private currentOutcome: Outcome = OUTCOME.ok;
  private currentWaited = 0;
  private readonly answerCurrent = (): void => {
    this.answerer.answer(this.currentReply!, this.currentOp, this.currentItem, this.currentOutcome, this.view,
      this.currentWaited);
  };

  /** Control requests carry no token and get no answer in a ring; the control ring is as large as a token pool. */
  private control(link: ShardLink, op: number): void {
    writeRequest(link.controlRing(), op, -1, 0, 0, 0, 0);
    link.doorbell.ring();
  }

  /**
   * Before any request names the item: the worker applies the control ring
   * before it reads requests it saw published (shard-turns.ts), and this
   * thread dispatches to the item only after this call returns.
   */
  addItem(item: StoredItem, itemIndex: number): void {
    const link = this.links[shardOf(itemIndex, this.links.length)]!;
    // A ring slot holds numbers only: row, mode and stock travel here, the
    // rest in the shared settings (shard-worker.ts addItem).
    writeAddItem(link.controlRing(), CONTROL_OP.addItem, itemIndex, item.mode === 'reserve', item.row, item.stock);
    link.doorbell.ring();
  }

  shardsAlive(): boolean[] {
    return this.links.map((link) => !link.exited);
  }

  /** One at a time (main.ts runs snapshots through CoalescedRuns): a second would take the first one's answer. */
  async snapshot(): Promise<ShardSnapshot[]> {
    return Promise.all(this.links.map((link) => new Promise<ShardSnapshot>((resolve) => {
      assert.ok(link.onMessage === null, 'a snapshot is already pending on this shard');
      link.onMessage = (message) => {
        if (message.type !== 'snapshot') return;
        link.onMessage = null;
        resolve(message.snapshot!);
      };
      this.control(link, CONTROL_OP.snapshot);
    })));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.links.map((link) => new Promise<void>((resolve) => {
      // A worker that died has nothing to flush: what it acknowledged is in its log.
      if (link.exited) return resolve();
      link.worker.once('exit', () => {
        this.drain(link);
        resolve();
      });
      this.control(link, CONTROL_OP.shutdown);
    })));
  }

}
