// The main thread's handle on the persistence worker: start it, read its
// lag, and drain it at shutdown. If the worker dies the engine stops: the
// log would grow without bound otherwise, and every acknowledged order is
// still in the log for the next start to replay.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type pino from 'pino';
import { COMMAND_DRAIN, CONTROL_COMMAND, CONTROL_WAKE, type PersisterSetup } from './persister-worker';
import { PROGRESS_APPLIED_RECORDS, PROGRESS_APPLIED_SEGMENT, PROGRESS_FIELDS, PROGRESS_RECORDS, PROGRESS_SEGMENT } from './write-behind-log';

export class Persister {
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  /** Written by the worker; starts at boot so that a lag before the first apply is measured from there. */
  private readonly appliedTime = new Float64Array(new SharedArrayBuffer(8)).fill(Date.now());
  private readonly progress: Int32Array;
  private worker: Worker | null = null;
  private draining = false;

  constructor(private readonly setup: Omit<PersisterSetup, 'control' | 'appliedTime'>, private readonly log: pino.Logger, private readonly onDeath: () => void) {
    this.progress = new Int32Array(setup.progress);
  }

  start(): Promise<void> {
    const worker = new Worker(path.join(__dirname, 'persister-worker.js'), { workerData: { ...this.setup, control: this.control.buffer, appliedTime: this.appliedTime.buffer }, name: 'persister' });
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
    this.log.fatal({ err: error }, 'persistence worker died; stopping (the write-behind log keeps every acknowledged order)');
    this.onDeath();
  }

  /** Records written to the log but not yet in SQLite, over all shards. */
  lagRecords(): number {
    let lag = 0;
    for (let shard = 0; shard < this.setup.shardCount; shard++) {
      const base = shard * PROGRESS_FIELDS;
      const written = Atomics.load(this.progress, base + PROGRESS_RECORDS);
      const sameSegment = Atomics.load(this.progress, base + PROGRESS_SEGMENT) === Atomics.load(this.progress, base + PROGRESS_APPLIED_SEGMENT);
      lag += sameSegment ? written - Atomics.load(this.progress, base + PROGRESS_APPLIED_RECORDS) : written;
    }
    return lag;
  }

  /**
   * How far SQLite trails the log in time: 0 when it holds everything, else
   * now minus the newest record it holds (an upper bound on the oldest
   * record still waiting).
   */
  lagMs(nowMs: number): number {
    return this.lagRecords() === 0 ? 0 : Math.max(0, nowMs - this.appliedTime[0]!);
  }

  /** Where each shard's log stands now: [segment, records] per shard. */
  writtenPositions(): number[] {
    const positions: number[] = [];
    for (let shard = 0; shard < this.setup.shardCount; shard++) {
      const base = shard * PROGRESS_FIELDS;
      positions.push(Atomics.load(this.progress, base + PROGRESS_SEGMENT), Atomics.load(this.progress, base + PROGRESS_RECORDS));
    }
    return positions;
  }

  /** True once SQLite holds every record written up to `positions` (from writtenPositions). */
  hasApplied(positions: readonly number[]): boolean {
    for (let shard = 0; shard < this.setup.shardCount; shard++) {
      const base = shard * PROGRESS_FIELDS;
      const segment = Atomics.load(this.progress, base + PROGRESS_APPLIED_SEGMENT);
      const records = Atomics.load(this.progress, base + PROGRESS_APPLIED_RECORDS);
      const wantSegment = positions[shard * 2]!;
      const wantRecords = positions[shard * 2 + 1]!;
      if (wantRecords === 0 && wantSegment <= 1) continue;
      if (segment < wantSegment || (segment === wantSegment && records < wantRecords)) return false;
    }
    return true;
  }

  /** Applies everything still in the log and stops the worker; call after the shards closed. */
  drain(): Promise<number> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(0);
    this.draining = true;
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (message: { type: string; records: number }) => {
        if (message.type === 'drained') resolve(message.records);
      });
      Atomics.store(this.control, CONTROL_COMMAND, COMMAND_DRAIN);
      Atomics.add(this.control, CONTROL_WAKE, 1);
      Atomics.notify(this.control, CONTROL_WAKE);
    });
  }
}
