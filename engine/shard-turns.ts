// A shard worker's loop over its rings (shard-ring.ts draws them): each turn
// takes a bounded batch from every producer's request ring, decides each
// request, writes the turn's log records once, then publishes every
// producer's answers; with nothing to do it sleeps on the shard's doorbell.
// Cross-thread design: shared memory with Atomics, one single-producer
// single-consumer ring per producer, so the worker is the only reader of
// every ring and each producer the only writer of its own; this module is
// the reader. What the shard does with a request is the TurnHandler's
// business (shard-worker.ts; a test double in the ring tests).
//
// Order between producers: a control request travels in the control ring,
// which only producer 0 (the main thread) writes. An addItem there must be
// applied before any request from any producer that names the new item.
// Producer 0 publishes the addItem before it makes the item known to other
// producers, so a request naming the item is published after the addItem.
// Each turn loads every request ring's head first and only then reads the
// control ring: a request the turn will read was published before that
// head load, so the addItem before it was too, and the control read that
// follows sees it. The shard asserts that every request names an item it
// holds (shard.ts run), so a broken order crashes instead of answering.

import assert from 'node:assert/strict';
import { RING_TURN_REQUESTS_MAX } from './constants';
import type { Outcome } from './error-catalog';
import { emptyOrderView, type OrderView } from './shard';
import {
  Doorbell, emptyRequest, HEAD, nextOp, readAddItem, readRequest, REQUEST_FIELDS, Ring, writeAnswer,
  type RingAddedItem, type RingRequest, type ShardRings,
} from './shard-ring';

/** Ops of the control ring; above every shard.ts OP. */
export const CONTROL_OP = { snapshot: 100, shutdown: 101, addItem: 102 } as const;

/** What a shard does with what its rings bring. */
export interface TurnHandler {
  /** Decides one request and fills `view`; the outcome goes back to the producer that asked. */
  decide(request: RingRequest, view: OrderView): Outcome;
  /** Makes an item added while the engine runs known before any request that names it. */
  addItem(added: RingAddedItem): void;
  /** Ends a turn: timed work (the expiry sweep), then one log write; no answer is published before it returns. */
  endTurn(): void;
  /** How long the worker may sleep before endTurn has timed work again, in ms (at least 1). */
  sleepMs(): number;
  /** Takes a snapshot; called after the turn's answers are published. */
  snapshot(): void;
  /** Closes the shard once every request ring is empty after a shutdown. */
  close(): void;
}

export class ShardTurns {
  private readonly control: Ring;
  private readonly requests: Ring[];
  private readonly answers: Ring[];
  /** Every ring the worker reads: what must be empty before it sleeps. */
  private readonly readable: Ring[];
  private readonly doorbell: Doorbell;
  /** Per producer: requests this turn reads (bounded), then answers staged and not yet published. */
  private readonly taking: Int32Array;
  private readonly staged: Int32Array;
  private readonly request = emptyRequest();
  private readonly view = emptyOrderView();
  private readonly added: RingAddedItem = { itemIndex: 0, reserve: false, row: 0, stock: 0 };
  private snapshotWanted = false;
  private shutdownWanted = false;

  constructor(rings: ShardRings, private readonly handler: TurnHandler) {
    assert.ok(rings.producers.length >= 1);
    this.control = new Ring(rings.control);
    assert.equal(this.control.fields, REQUEST_FIELDS);
    this.requests = rings.producers.map((pair) => new Ring(pair.requests));
    this.answers = rings.producers.map((pair) => new Ring(pair.answers));
    this.readable = [this.control, ...this.requests];
    this.doorbell = new Doorbell(rings.doorbell);
    this.taking = new Int32Array(this.requests.length);
    this.staged = new Int32Array(this.requests.length);
  }

  /** Serves turns until a shutdown has been asked for and every request ring is empty. */
  run(): void {
    for (;;) {
      const read = this.turn();
      if (this.snapshotWanted) {
        this.snapshotWanted = false;
        this.handler.snapshot();
      }
      if (this.shutdownWanted) {
        // A producer stops sending before it asks for a shutdown; what it sent before is still answered.
        if (this.requests.every((ring) => ring.available() === 0)) return this.handler.close();
      } else if (read === 0) this.doorbell.sleep(this.readable, this.handler.sleepMs());
    }
  }

  /**
   * One turn; returns the requests it read. No producer starves another: a
   * turn takes at most RING_TURN_REQUESTS_MAX from each ring, counted
   * before any is read, so a flooding producer waits for the next turn
   * while every other producer's requests are served in this one.
   */
  private turn(): number {
    const count = this.requests.length;
    for (let producer = 0; producer < count; producer++) {
      this.taking[producer] = Math.min(this.requests[producer]!.available(), RING_TURN_REQUESTS_MAX);
    }
    // After the head loads above: see the order between producers at the top of this file.
    this.applyControl();
    let read = 0;
    for (let producer = 0; producer < count; producer++) read += this.serve(producer);
    // The records go to the log before any answer about them is published.
    this.handler.endTurn();
    for (let producer = 0; producer < count; producer++) this.publish(producer);
    return read;
  }

  /** Reads the whole control ring: items are added now, a snapshot or shutdown after the turn's answers. */
  private applyControl(): void {
    const control = this.control;
    while (control.available() > 0) {
      if (nextOp(control) === CONTROL_OP.addItem) {
        readAddItem(control, this.added);
        this.handler.addItem(this.added);
        continue;
      }
      readRequest(control, this.request);
      const op = this.request.op;
      assert.ok(op === CONTROL_OP.snapshot || op === CONTROL_OP.shutdown, 'unknown control request');
      if (op === CONTROL_OP.snapshot) this.snapshotWanted = true;
      else this.shutdownWanted = true;
    }
  }

  /** Decides this turn's requests from one producer and stages their answers in its answer ring. */
  private serve(producer: number): number {
    const requests = this.requests[producer]!;
    const answers = this.answers[producer]!;
    const request = this.request;
    const view = this.view;
    const taking = this.taking[producer]!;
    for (let index = 0; index < taking; index++) {
      readRequest(requests, request);
      assert.ok(request.op < CONTROL_OP.snapshot, 'a control request in a request ring');
      const outcome = this.handler.decide(request, view);
      writeAnswer(answers, index, request.token, outcome, view);
    }
    this.staged[producer] = taking;
    return taking;
  }

  private publish(producer: number): void {
    const staged = this.staged[producer]!;
    if (staged === 0) return;
    const answers = this.answers[producer]!;
    answers.publish(staged);
    Atomics.notify(answers.header, HEAD);
    this.staged[producer] = 0;
  }
}
