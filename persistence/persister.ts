// The main thread's handle on the persistence worker: start it, read its
// lag, and drain it at shutdown. If the worker dies the engine stops: the
// log would grow without bound otherwise, and every acknowledged order is
// still in the log for the next start to replay.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type pino from 'pino';
import { COMMAND_DRAIN, CONTROL_COMMAND, CONTROL_WAKE, type PersisterSetup } from './persister-worker';
import {
  PROGRESS_APPLIED_RECORDS, PROGRESS_APPLIED_SEGMENT, PROGRESS_FIELDS, PROGRESS_RECORDS, PROGRESS_SEGMENT,
} from './write-behind-log';

export class Persister {
  private worker: Worker | null = null;
  private draining = false;

  /**
   * `setup` carries the shared views the worker uses too; `onFatal` is told
   * when the worker dies (perhaps twice: error, then exit) and stops the engine.
   */
  constructor(private readonly setup: PersisterSetup, private readonly log: pino.Logger,
    private readonly onFatal: (reason: string) => void) {}

  start(): Promise<void> {
    const file = path.join(__dirname, 'persister-worker.js');
    const worker = new Worker(file, { workerData: this.setup, name: 'persister' });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', () => {
        worker.off('error', reject);
        worker.on('error', (error) => this.died(error));
        worker.on('exit', (code) => { if (!this.draining) this.died(new Error(`exited with code ${code}`)); });
        resolve();
      });
    });
  }

  get alive(): boolean {
    return this.worker !== null && !this.dead;
  }

  private dead = false;

  private died(error: Error): void {
    this.dead = true;
    this.log.fatal({ err: error },
      'persistence worker died; stopping (the write-behind log keeps every acknowledged order)');
    this.onFatal('persister died');
  }

  /** Records written to the log but not yet in SQLite, over all shards. */
  lagRecords(): number {
    const progress = this.setup.progress;
    let lag = 0;
    for (let shard = 0; shard < this.setup.shardCount; shard++) {
      const base = shard * PROGRESS_FIELDS;
      const written = Atomics.load(progress, base + PROGRESS_RECORDS);
      const segment = Atomics.load(progress, base + PROGRESS_SEGMENT);
      const sameSegment = segment === Atomics.load(progress, base + PROGRESS_APPLIED_SEGMENT);
      lag += sameSegment ? written - Atomics.load(progress, base + PROGRESS_APPLIED_RECORDS) : written;
    }
    return lag;
  }

  /**
   * How far SQLite trails the log in time: 0 when it holds everything, else
   * now minus the newest record it holds (an upper bound on the oldest
   * record still waiting).
   */
  lagMs(nowMs: number): number {
    return this.lagRecords() === 0 ? 0 : Math.max(0, nowMs - this.setup.appliedTime[0]!);
  }

  /** Where each shard's log stands now: [segment, records] per shard. */
  writtenPositions(): number[] {
    const positions: number[] = [];
    for (let shard = 0; shard < this.setup.shardCount; shard++) {
      const base = shard * PROGRESS_FIELDS;
      const progress = this.setup.progress;
      positions.push(Atomics.load(progress, base + PROGRESS_SEGMENT), Atomics.load(progress, base + PROGRESS_RECORDS));
    }
    return positions;
  }

  /** True once SQLite holds every record written up to `positions` (from writtenPositions). */
  hasApplied(positions: readonly number[]): boolean {
    for (let shard = 0; shard < this.setup.shardCount; shard++) {
      const base = shard * PROGRESS_FIELDS;
      const segment = Atomics.load(this.setup.progress, base + PROGRESS_APPLIED_SEGMENT);
      const records = Atomics.load(this.setup.progress, base + PROGRESS_APPLIED_RECORDS);
      const wantSegment = positions[shard * 2]!;
      const wantRecords = positions[shard * 2 + 1]!;
      if (wantRecords === 0 && wantSegment <= 1) continue;
      if (segment < wantSegment || (segment === wantSegment && records < wantRecords)) return false;
    }
    return true;
  }

  /**
   * Applies everything still in the log and stops the worker; call after the
   * shards closed. A dead worker applies nothing: the log keeps the rest for
   * the next start to replay.
   */
  drain(): Promise<number> {
    const worker = this.worker;
    if (!worker || this.dead) return Promise.resolve(0);
    this.draining = true;
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (message: { type: string; records: number }) => {
        if (message.type === 'drained') resolve(message.records);
      });
      Atomics.store(this.setup.control, CONTROL_COMMAND, COMMAND_DRAIN);
      Atomics.add(this.setup.control, CONTROL_WAKE, 1);
      Atomics.notify(this.setup.control, CONTROL_WAKE);
    });
  }
}
