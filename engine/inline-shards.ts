// --workers 0: one shard on the main thread. A decision is made inside the
// request handler; a refusal is answered at once, a decision that wrote a log
// record waits for the end of this turn of the event loop, when the whole
// turn's records go to the log in one write() and then all their answers go
// out, each corked. That is the group commit of the write-behind log.

import assert from 'node:assert/strict';
import type { StoredItem } from '../persistence/database';
import type { ItemBook } from './item-book';
import { EXPIRY_SWEEP_MS } from './constants';
import { OUTCOME, type Outcome } from './error-catalog';
import { KEY_NONE } from './idempotency-key';
import type { IdempotencyKeys } from './idempotency-keys';
import type { InFlightUsers } from './in-flight-users';
import { emptyOrderView, OP, type OrderView, type Shard } from './shard';
import type { Reply } from './reply';
import type { Answerer, ShardDispatcher } from './shard-dispatcher';
import { takeShardSnapshot, type ShardSnapshot } from './snapshot';

interface Deferred {
  reply: Reply;
  op: number;
  itemIndex: number;
  outcome: Outcome;
  view: OrderView;
  startedAt: number;
  userId: number;
  /** A buy's idempotency key (KEY_NONE: none), finished at the flush. */
  key: number;
}


export class InlineShards implements ShardDispatcher {
  private readonly view = emptyOrderView();
  /** Answers waiting for the log write; preallocated, reused every turn. */
  private readonly deferred: Deferred[];
  private deferredCount = 0;
  private flushScheduled = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly flushBound = (): void => this.flushAndAnswer();

  constructor(private readonly shard: Shard, private readonly answerer: Answerer, readonly left: Int32Array,
    deferredMax: number, private readonly loadBook: (item: StoredItem, itemIndex: number) => ItemBook,
    private readonly inFlight: InFlightUsers, private readonly keys: IdempotencyKeys) {
    this.deferred = Array.from({ length: deferredMax }, () => ({
      reply: null as unknown as Reply, op: 0, itemIndex: 0, outcome: OUTCOME.ok,
      view: emptyOrderView(), startedAt: 0, userId: 0, key: KEY_NONE,
    }));
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      if (this.shard.sweep(now) + this.shard.drawDue(now) > 0) this.flushAndAnswer();
    }, EXPIRY_SWEEP_MS);
  }

  dispatch(reply: Reply, op: number, itemIndex: number, userId: number, argument: number, nowMs: number,
    startedAt: number): void {
    const outcome = this.shard.run(op, itemIndex, userId, argument, nowMs, this.view);
    // A won buy and an entry into a fair window wrote a record; a refusal did not.
    if ((outcome !== OUTCOME.ok && outcome !== OUTCOME.entered) || this.shard.log.pending === 0) {
      if (op === OP.buy) this.endBuy(userId, argument, outcome, this.view);
      // Called from a request handler or from a corked body callback: already corked.
      this.answerer.answer(reply, op, itemIndex, outcome, this.view, 0);
      // A refused buy may have drawn a fair window first: its records still go out this turn.
      if (this.shard.log.pending > 0) this.scheduleFlush();
      return;
    }
    // The answer tells of state that is not in the log yet: it waits for the write.
    // Always attached here, even when the body reader attached one: a flag
    // on the reply is no proof this request has a handler, and
    // answering later without one makes uWebSockets.js end the process.
    reply.watch();
    const entry = this.deferred[this.deferredCount++]!;
    entry.reply = reply;
    entry.op = op;
    entry.itemIndex = itemIndex;
    entry.outcome = outcome;
    entry.startedAt = startedAt;
    entry.userId = userId;
    entry.key = op === OP.buy ? argument : KEY_NONE;
    // The buy is decided but unanswered until the flush: the user's claim (buy-gate.ts) is kept until then.
    entry.view.orderId = this.view.orderId;
    entry.view.userId = this.view.userId;
    entry.view.state = this.view.state;
    entry.view.createdAt = this.view.createdAt;
    entry.view.payBy = this.view.payBy;
    entry.view.place = this.view.place;
    if (this.deferredCount === this.deferred.length) this.flushAndAnswer();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private flushAndAnswer(): void {
    this.flushScheduled = false;
    this.shard.log.flush();
    this.shard.publishDraws();
    // One clock read for the whole batch: every answer in it leaves now.
    this.answeredAt = this.deferredCount > 0 ? performance.now() : 0;
    for (let i = 0; i < this.deferredCount; i++) {
      const entry = this.deferred[i]!;
      this.current = entry;
      if (entry.op === OP.buy) this.endBuy(entry.userId, entry.key, entry.outcome, entry.view);
      if (!entry.reply.aborted) entry.reply.cork(this.answerCurrent);
      entry.reply = null as unknown as Reply;
    }
    this.deferredCount = 0;
  }

  /** The deferred answer being sent; a field so that cork() needs no closure per answer. */
  private current: Deferred | null = null;
  private readonly answerCurrent = (): void => {
    const entry = this.current!;
    this.answerer.answer(entry.reply, entry.op, entry.itemIndex, entry.outcome, entry.view,
      this.answeredAt - entry.startedAt);
  };
  private answeredAt = 0;

  /**
   * A buy is answered: its idempotency key keeps the answer or is forgotten
   * (idempotency-keys.ts finish), then the user's claim is released. A won
   * buy's key keeps its order only after the flush that wrote its record.
   */
  private endBuy(userId: number, key: number, outcome: Outcome, view: OrderView): void {
    if (key !== KEY_NONE) this.keys.finish(userId, key, outcome, view.orderId, view.payBy);
    this.inFlight.remove(userId);
  }

  async snapshot(): Promise<ShardSnapshot[]> {
    this.flushAndAnswer();
    return [takeShardSnapshot(this.shard)];
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.flushAndAnswer();
    this.shard.log.close();
  }

  shardsAlive(): boolean[] {
    return [true];
  }

  addItem(item: StoredItem, itemIndex: number): void {
    assert.equal(itemIndex, this.shard.books.length, 'one shard: local index = global index');
    this.shard.addBook(this.loadBook(item, itemIndex));
  }

  get counters(): Float64Array {
    return this.shard.counters;
  }
}
