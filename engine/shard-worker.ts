// The body of a shard worker thread. It owns its items exclusively and runs
// a plain loop, no event loop (shard-turns.ts): take a batch from every
// producer's request ring, decide, write the batch of log records in one
// write(), publish each producer's answers at once, and sleep on the shard's
// doorbell when there is nothing to do (woken by a producer, or by the
// expiry sweep's timeout).

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openDatabase, type StoredItem } from '../persistence/database';
import { ItemBook, SETTING, SETTING_FIELDS } from './item-book';
import type { Outcome } from './error-catalog';
import type { OrderView, Shard } from './shard';
import { EXPIRY_SWEEP_MS } from './constants';
import { loadShard, type ShardSetup } from './shard-loader';
import type { RingAddedItem, RingRequest, ShardRings } from './shard-ring';
import { ShardTurns, type TurnHandler } from './shard-turns';
import { snapshotBuffers, takeShardSnapshot } from './snapshot';

/** Fault injection: `FLASH_FAULT_SHARD_THROW=S:N` makes shard S throw on its Nth request. */
export const FAULT_ENV = 'FLASH_FAULT_SHARD_THROW';

/**
 * How many requests shard `index` decides before it throws, as a bug in it
 * would (0: never). Only the shard-death test sets it, to prove that a dead
 * shard fails its requests loudly and loses nothing acknowledged; the engine
 * logs a warning at start-up whenever it is set.
 */
export function faultCountdown(index: number, value = process.env[FAULT_ENV]): number {
  const match = /^(\d+):(\d+)$/.exec(value ?? '');
  return match && Number(match[1]) === index ? Number(match[2]) : 0;
}

export interface WorkerSetup extends ShardSetup {
  dataDir: string;
  /** This shard's control ring, every producer's rings to it, and its doorbell. */
  rings: ShardRings;
}

/**
 * An item created while the engine runs. It has no orders yet, so its book
 * needs only numbers: its row, mode and stock from the request, its end,
 * limit and pay window from the shared settings the main thread wrote before
 * sending it. The database is not read: an admin may already have deleted
 * the item again, and then its book is simply never used.
 */
function addItem(shard: Shard, settings: Float64Array, added: RingAddedItem): void {
  const at = added.itemIndex * SETTING_FIELDS;
  // The book writes these settings back as it is made; a start of 0 with
  // the window as long as drawAt gives back the same drawAt (drawAtOf).
  const item: StoredItem = {
    row: added.row, id: `row-${added.row}`, name: '', price: 0, stock: added.stock, startsAt: 0, challenge: false,
    mode: added.reserve ? 'reserve' : 'order', endsAt: settings[at + SETTING.endsAt]!,
    perUserLimit: settings[at + SETTING.perUserLimit]!, payWindowSec: settings[at + SETTING.payWindowMs]! / 1000,
    waitlist: settings[at + SETTING.waitlist] === 1,
    fairWindowMs: settings[at + SETTING.drawAt]!,
  };
  shard.addBook(new ItemBook(item, added.itemIndex, added.stock, settings));
}

/** The shard's side of each turn (shard-turns.ts): decisions, the sweep, the log, snapshots. */
class ShardHandler implements TurnHandler {
  private nextSweepAt = Date.now() + EXPIRY_SWEEP_MS;
  private faultIn: number;

  constructor(private readonly shard: Shard, private readonly setup: WorkerSetup, private readonly port: MessagePort) {
    this.faultIn = faultCountdown(setup.index);
  }

  decide(request: RingRequest, view: OrderView): Outcome {
    if (this.faultIn > 0 && --this.faultIn === 0) {
      throw new Error(`${FAULT_ENV}: shard ${this.setup.index} throws on purpose`);
    }
    return this.shard.run(request.op, request.item, request.user, request.argument, request.nowMs, view);
  }

  addItem(added: RingAddedItem): void {
    addItem(this.shard, this.setup.settings, added);
  }

  endTurn(): void {
    const now = Date.now();
    if (now >= this.nextSweepAt) {
      this.shard.sweep(now);
      this.nextSweepAt = now + EXPIRY_SWEEP_MS;
    }
    this.shard.drawDue(now);
    this.shard.log.flush();
    this.shard.publishDraws();
  }

  sleepMs(): number {
    return Math.max(1, Math.min(this.nextSweepAt, this.shard.nextDrawAt()) - Date.now());
  }

  snapshot(): void {
    const snapshot = takeShardSnapshot(this.shard);
    this.port.postMessage({ type: 'snapshot', snapshot }, snapshotBuffers(snapshot));
  }

  close(): void {
    this.shard.log.close();
    this.port.postMessage({ type: 'closed' });
  }
}

function main(): void {
  assert.ok(parentPort, 'shard-worker runs only as a worker thread');
  const setup = workerData as WorkerSetup;
  const db = openDatabase(setup.dataDir, { fsync: setup.fsync, readonly: true });
  const shard = loadShard(setup, db);
  db.close();
  const turns = new ShardTurns(setup.rings, new ShardHandler(shard, setup, parentPort));
  parentPort.postMessage({ type: 'ready' });
  turns.run();
}

// Imported on the main thread for its types and constants; runs only as a worker.
if (!isMainThread) main();
