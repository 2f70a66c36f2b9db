// The main thread's handle on the other HTTP threads (http-thread.ts): it
// starts them on the port it listens on, hands each admin change to all of
// them (catalog-changes.ts), tells them of a dead shard, and stops them.
// A thread that dies takes its sockets and its in-flight buys with it, and
// their users' claims in the shared in-flight table would never be given
// back: like a dead shard, that stops the engine (exit code 1), and the
// next start recovers every acknowledged order from the log.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type pino from 'pino';
import type { CatalogChange, ChangeReplicas } from './catalog-changes';
import type { HttpThreadData, HttpThreadMessage } from './http-thread';

/** How long a stop waits for the HTTP threads to answer what they have in flight. */
const STOP_WAIT_MS = 10_000;

class ThreadLink {
  exited = false;
  stopped: Promise<void> | null = null;
  constructor(readonly worker: Worker) {}
}

export class HttpThreads implements ChangeReplicas {
  private stopping = false;
  private readonly links: ThreadLink[];
  /** Resolves once every thread listens; rejects if one fails to start. */
  readonly ready: Promise<void>;

  /**
   * Starts one thread per setup (indexes 1 and up). Changes posted before
   * they are ready wait in their message queues and are applied in order.
   * `onDied` is told of a thread that dies after it was ready and before
   * stop().
   */
  constructor(setups: HttpThreadData[], readonly acks: Int32Array, private readonly log: pino.Logger,
    onDied: (index: number) => void) {
    this.links = setups.map((setup) => new ThreadLink(new Worker(path.join(__dirname, 'http-thread.js'),
      { workerData: setup, name: `http-${setup.index}` })));
    this.ready = Promise.all(this.links.map((link, i) => new Promise<void>((resolve, reject) => {
      const index = setups[i]!.index;
      link.worker.once('error', reject);
      link.worker.on('message', (message: { type: string }) => {
        if (message.type !== 'ready') return;
        link.worker.off('error', reject);
        link.worker.on('error', (error) => log.fatal({ thread: `http-${index}`, err: error }, 'HTTP thread failed'));
        link.worker.on('exit', (code) => {
          link.exited = true;
          if (this.stopping) return;
          log.fatal({ thread: `http-${index}`, code }, 'HTTP thread died; stopping');
          onDied(index);
        });
        resolve();
      });
    }))).then(() => undefined);
  }

  get count(): number {
    return this.links.length;
  }

  post(change: CatalogChange): void {
    this.send({ type: 'change', change });
  }

  shardDied(index: number): void {
    this.send({ type: 'shardDied', index });
  }

  /** Whether each thread is alive, in index order (from 1). */
  alive(): boolean[] {
    return this.links.map((link) => !link.exited);
  }

  /**
   * Each thread stops accepting and answers what it sent the shards;
   * resolves when all have, or after STOP_WAIT_MS with the stragglers logged
   * (a thread that hangs must not hang the stop: the shards and the log
   * still flush what was acknowledged).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), STOP_WAIT_MS);
    });
    const stopped = this.stopAll();
    if (await Promise.race([stopped, late]) === 'late') {
      this.log.error({ waitedMs: STOP_WAIT_MS }, 'an HTTP thread did not stop in time; stopping without it');
    }
    clearTimeout(timer);
  }

  private stopAll(): Promise<void[]> {
    return Promise.all(this.links.map((link) => {
      if (link.exited) return Promise.resolve();
      link.stopped ??= new Promise<void>((resolve) => {
        link.worker.on('message', (message: { type: string }) => {
          if (message.type === 'stopped') resolve();
        });
        link.worker.once('exit', () => resolve());
        link.worker.postMessage({ type: 'stop' } satisfies HttpThreadMessage);
      });
      return link.stopped;
    }));
  }

  private send(message: HttpThreadMessage): void {
    for (const link of this.links) if (!link.exited) link.worker.postMessage(message);
  }
}
