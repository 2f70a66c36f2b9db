// --workers N: N shard worker threads, item i owned by worker i % N. The
// main thread starts them, is producer 0 of their rings (ring-producer.ts
// sends its requests and reads its answers) and alone writes their control
// rings: snapshot, shutdown, addItem (shard-turns.ts says why only one
// producer may). Other HTTP threads reach the same workers through rings of
// their own (http-thread.ts).

import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type pino from 'pino';
import type { StoredItem } from '../persistence/database';
import type { IdempotencyKeys } from './idempotency-keys';
import type { InFlightUsers } from './in-flight-users';
import type { Reply } from './reply';
import { RingProducer } from './ring-producer';
import type { Answerer, ShardDispatcher } from './shard-dispatcher';
import { shardOf } from './shard-dispatcher';
import { Doorbell, Ring, writeAddItem, writeRequest } from './shard-ring';
import { MAIN_PRODUCER, type SharedState } from './shared-state';
import type { ShardSetup } from './shard-loader';
import type { WorkerSetup } from './shard-worker';
import { CONTROL_OP } from './shard-turns';
import type { ShardSnapshot } from './snapshot';

/** The main thread's handle on one worker: its control ring and doorbell. */
class WorkerLink {
  readonly control: Ring;
  readonly doorbell: Doorbell;
  onMessage: ((message: { type: string; snapshot?: ShardSnapshot }) => void) | null = null;
  exited = false;

  constructor(readonly worker: Worker, setup: WorkerSetup) {
    this.control = new Ring(setup.rings.control);
    this.doorbell = new Doorbell(setup.rings.doorbell);
  }
}

/** What the worker shards need from the engine besides their setups. */
export interface WorkerShardsContext {
  answerer: Answerer;
  /** Where the rings, `left` and the counters live. */
  shared: SharedState;
  log: pino.Logger;
  inFlight: InFlightUsers;
  keys: IdempotencyKeys;
  /** Told when a worker dies (after this thread refused its pending requests): the engine stops. */
  onShardDied: (index: number) => void;
}

export class WorkerShards implements ShardDispatcher {
  private readonly links: WorkerLink[] = [];
  private readonly producer: RingProducer;
  private closing = false;
  readonly left: Int32Array;
  readonly counters: Float64Array;

  private constructor(private readonly context: WorkerShardsContext) {
    this.left = context.shared.left;
    this.counters = context.shared.counters;
    this.producer = new RingProducer(context.shared.rings, MAIN_PRODUCER, context.answerer, context.inFlight,
      context.keys);
  }

  /** Starts one worker per setup, each on the rings SharedState made for its index. */
  static async start(setups: ShardSetup[], dataDir: string, context: WorkerShardsContext): Promise<WorkerShards> {
    const rings = context.shared.rings;
    assert.equal(rings.length, setups.length);
    const shards = new WorkerShards(context);
    await Promise.all(setups.map((setup) => shards.startOne({ ...setup, dataDir, rings: rings[setup.index]! })));
    shards.producer.start();
    return shards;
  }

  private startOne(setup: WorkerSetup): Promise<void> {
    const worker = new Worker(path.join(__dirname, 'shard-worker.js'),
      { workerData: setup, name: `shard-${setup.index}` });
    const link = new WorkerLink(worker, setup);
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
          resolve();
        } else link.onMessage?.(message);
      });
    });
  }

  /** A dead shard cannot answer and its items cannot be sold elsewhere: fail loudly, restart recovers. */
  private workerDied(index: number, error: Error): void {
    this.context.log.fatal({ shard: index, err: error }, 'shard worker died; failing in-flight requests and stopping');
    this.producer.shardDied(index);
    this.context.onShardDied(index);
  }

  dispatch(reply: Reply, op: number, itemIndex: number, userId: number, argument: number, nowMs: number,
    startedAt: number): void {
    this.producer.dispatch(reply, op, itemIndex, userId, argument, nowMs, startedAt);
  }

  /** Control requests carry no token and get no answer in a ring; the control ring is as large as a token pool. */
  private control(link: WorkerLink, op: number): void {
    writeRequest(link.control, op, -1, 0, 0, 0, 0);
    link.doorbell.ring();
  }

  /**
   * Before any request names the item: the worker applies the control ring
   * before it reads requests it saw published (shard-turns.ts), and no HTTP
   * thread dispatches to the item before this call returns.
   */
  addItem(item: StoredItem, itemIndex: number): void {
    const link = this.links[shardOf(itemIndex, this.links.length)]!;
    // A ring slot holds numbers only: row, mode and stock travel here, the
    // rest in the shared settings (shard-worker.ts addItem).
    writeAddItem(link.control, CONTROL_OP.addItem, itemIndex, item.mode === 'reserve', item.row, item.stock);
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

  /**
   * After every other HTTP thread stopped sending: each worker answers what
   * it was sent, flushes its log and exits, and this thread sends the
   * answers it published last.
   */
  async close(): Promise<void> {
    this.closing = true;
    const idle = this.producer.close();
    await Promise.all(this.links.map((link, index) => new Promise<void>((resolve) => {
      // A worker that died has nothing to flush: what it acknowledged is in its log.
      if (link.exited) return resolve();
      link.worker.once('exit', () => {
        this.producer.drainShard(index);
        // Whatever a worker that crashed while stopping left unanswered is refused now.
        this.producer.shardDied(index);
        resolve();
      });
      this.control(link, CONTROL_OP.shutdown);
    })));
    await idle;
  }
}
