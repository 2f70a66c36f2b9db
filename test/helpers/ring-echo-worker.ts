// A shard worker double for the ring tests: it runs the engine's own turn
// loop (engine/shard-turns.ts) over a shard's rings, with a handler that
// answers each request with its fields moved into answer fields
// (shard-ring.ts draws both slots) instead of deciding it. It counts items
// added through the control ring and asserts that no request names an item
// before its addItem was applied, which is the order shard-turns.ts
// promises across producers. It stops on a shutdown control request.

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Outcome } from '../../engine/error-catalog';
import type { OrderView } from '../../engine/shard';
import type { RingAddedItem, RingRequest, ShardRings } from '../../engine/shard-ring';
import { ShardTurns, type TurnHandler } from '../../engine/shard-turns';

/** Words of the `stats` Int32Array the worker counts into. */
export const ECHO_STATS = { turns: 0, sleeps: 1, snapshots: 2 } as const;
export const ECHO_STATS_FIELDS = 3;

export interface EchoSetup {
  rings: ShardRings;
  /** Items known before any addItem; a request must name an item below the count. */
  itemsKnown: number;
  /** How long the worker sleeps when no producer rings: a lost wake-up costs this much. */
  sleepMs: number;
  stats: Int32Array;
}

/** What the echo answers: outcome = op, orderId = argument, userId = user, state = item, createdAt/payBy = ±nowMs. */
export function echo(request: RingRequest, view: OrderView): Outcome {
  view.orderId = request.argument;
  view.userId = request.user;
  view.state = request.item;
  view.createdAt = request.nowMs;
  view.payBy = -request.nowMs;
  return request.op as Outcome;
}

class EchoHandler implements TurnHandler {
  private itemsKnown: number;

  constructor(private readonly setup: EchoSetup) {
    this.itemsKnown = setup.itemsKnown;
  }

  decide(request: RingRequest, view: OrderView): Outcome {
    assert.ok(request.item < this.itemsKnown, `request for item ${request.item} before its addItem`);
    return echo(request, view);
  }

  addItem(added: RingAddedItem): void {
    assert.equal(added.itemIndex, this.itemsKnown, 'items are added in order');
    this.itemsKnown++;
  }

  endTurn(): void {
    Atomics.add(this.setup.stats, ECHO_STATS.turns, 1);
  }

  sleepMs(): number {
    Atomics.add(this.setup.stats, ECHO_STATS.sleeps, 1);
    return this.setup.sleepMs;
  }

  snapshot(): void {
    Atomics.add(this.setup.stats, ECHO_STATS.snapshots, 1);
  }

  close(): void {
    parentPort!.postMessage({ type: 'closed', itemsKnown: this.itemsKnown });
  }
}

function main(): void {
  assert.ok(parentPort);
  const setup = workerData as EchoSetup;
  new ShardTurns(setup.rings, new EchoHandler(setup)).run();
}

// Imported by the tests for its constants; runs only as a worker.
if (!isMainThread) main();
