// One HTTP thread's side of the shard workers: as producer p (shard-ring.ts
// draws the topology) it writes requests into its own request ring to each
// worker, rings the worker's doorbell, and reads answers from its own answer
// ring; Atomics.waitAsync tells it when answers arrive. Producers share no
// lock and no written word while the workers are busy. A producer's
// in-flight requests to a shard are bounded by its token pool, the size of
// its rings: when the pool is empty the request is refused 503 at once.
//
// The main thread (worker-shards.ts) starts the workers and is producer 0;
// every other HTTP thread (http-thread.ts) is one of these alone.

import assert from 'node:assert/strict';
import { OUTCOME, type Outcome } from './error-catalog';
import { KEY_NONE } from './idempotency-key';
import type { IdempotencyKeys } from './idempotency-keys';
import type { InFlightUsers } from './in-flight-users';
import type { Reply } from './reply';
import { emptyOrderView, OP } from './shard';
import type { Answerer, RequestDispatcher } from './shard-dispatcher';
import { localIndexOf, shardOf } from './shard-dispatcher';
import { Doorbell, HEAD, readAnswer, Ring, writeRequest, type RingAnswer, type ShardRings } from './shard-ring';

/** One producer's side of one shard: its rings to the shard and its token pool. */
class ShardLink {
  readonly requests: Ring;
  readonly answers: Ring;
  readonly doorbell: Doorbell;
  readonly pendingReplies: (Reply | null)[];
  readonly pendingOp: Uint8Array;
  readonly pendingItem: Int32Array;
  readonly pendingStartedAt: Float64Array;
  readonly pendingUser: Float64Array;
  /** A buy's idempotency key (KEY_NONE: none), finished when its answer comes. */
  readonly pendingKey: Float64Array;
  readonly freeTokens: Int32Array;
  freeCount: number;
  /** Set once the shard died: its pending requests were refused, and it gets no more. */
  dead = false;

  constructor(rings: ShardRings, producer: number) {
    const own = rings.producers[producer]!;
    this.requests = new Ring(own.requests);
    this.answers = new Ring(own.answers);
    this.doorbell = new Doorbell(rings.doorbell);
    // One token per answer-ring slot: this producer's in-flight bound on the shard.
    const slots = own.answers.capacity;
    assert.equal(own.requests.capacity, slots);
    this.pendingReplies = new Array<Reply | null>(slots).fill(null);
    this.pendingOp = new Uint8Array(slots);
    this.pendingItem = new Int32Array(slots);
    this.pendingStartedAt = new Float64Array(slots);
    this.pendingUser = new Float64Array(slots);
    this.pendingKey = new Float64Array(slots);
    this.freeTokens = Int32Array.from({ length: slots }, (_, i) => slots - 1 - i);
    this.freeCount = slots;
  }

  get pending(): number {
    return this.pendingReplies.length - this.freeCount;
  }
}

export class RingProducer implements RequestDispatcher {
  private readonly links: ShardLink[];
  private readonly view = emptyOrderView();
  /** The answer being read from a ring; its view is `view`, which the answerer reads. */
  private readonly answer: RingAnswer = { token: 0, outcome: OUTCOME.ok, view: this.view };
  /** Set by close(): requests are refused 503 from then on. */
  private closing = false;
  /** Told when nothing is pending any more after close() (the stop waits for it). */
  private onIdle: (() => void) | null = null;

  /** `rings[s]` are shard s's rings; this producer uses its own pair of each. */
  constructor(rings: readonly ShardRings[], producer: number, private readonly answerer: Answerer,
    private readonly inFlight: InFlightUsers, private readonly keys: IdempotencyKeys) {
    this.links = rings.map((shardRings) => new ShardLink(shardRings, producer));
  }

  /** Starts reading answers: from here on, every answer published is sent. */
  start(): void {
    for (const link of this.links) this.arm(link);
  }

  dispatch(reply: Reply, op: number, itemIndex: number, userId: number, argument: number, nowMs: number,
    startedAt: number): void {
    const link = this.links[shardOf(itemIndex, this.links.length)]!;
    if (link.freeCount === 0 || this.closing || link.dead) {
      if (op === OP.buy) this.endBuy(userId, argument, OUTCOME.overloaded);
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
    link.pendingKey[token] = op === OP.buy ? argument : KEY_NONE;
    writeRequest(link.requests, op, token, localIndexOf(itemIndex, this.links.length), userId, argument, nowMs);
    link.doorbell.ring();
  }

  /** Requests sent and not yet answered, over every shard. */
  pending(): number {
    let pending = 0;
    for (const link of this.links) pending += link.dead ? 0 : link.pending;
    return pending;
  }

  /**
   * A dead shard cannot answer: its pending requests are refused 503 now,
   * and requests for its items from here on.
   */
  shardDied(index: number): void {
    const link = this.links[index]!;
    if (link.dead) return;
    link.dead = true;
    for (let token = 0; token < link.pendingReplies.length; token++) {
      const reply = link.pendingReplies[token];
      if (!reply) continue;
      link.pendingReplies[token] = null;
      if (link.pendingOp[token] === OP.buy) {
        this.endBuy(link.pendingUser[token]!, link.pendingKey[token]!, OUTCOME.overloaded);
      }
      if (!reply.aborted) {
        reply.cork(() => this.answerer.answer(reply, link.pendingOp[token]!, link.pendingItem[token]!,
          OUTCOME.overloaded, this.view, 0));
      }
    }
    this.checkIdle();
  }

  /** Refuses new requests; resolves once every request sent was answered. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.onIdle = resolve;
      this.checkIdle();
    });
  }

  /** Reads what a shard that has exited published last (its shutdown flushed it). */
  drainShard(index: number): void {
    this.drain(this.links[index]!);
  }

  /**
   * A buy is answered (or refused before its shard): its idempotency key
   * keeps the answer or is forgotten (idempotency-keys.ts finish), then the
   * user's claim is released. The key first, so that a retry that follows
   * the claim finds the answer, never an absent key.
   */
  private endBuy(userId: number, key: number, outcome: Outcome): void {
    if (key !== KEY_NONE) this.keys.finish(userId, key, outcome, this.view.orderId, this.view.payBy);
    this.inFlight.remove(userId);
  }

  private checkIdle(): void {
    if (this.onIdle !== null && this.pending() === 0) {
      const idle = this.onIdle;
      this.onIdle = null;
      idle();
    }
  }

  /** Answers everything the worker has published, then waits (asynchronously) for more. */
  private arm(link: ShardLink): void {
    for (;;) {
      // Head is read before the drain: an answer published after the drain's
      // last look then makes the wait return at once instead of waiting for
      // the worker's next publish, which may never come.
      const head = Atomics.load(link.answers.header, HEAD);
      this.drain(link);
      if (link.dead) return;
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
      // A shard that died had its requests answered 503 already (shardDied).
      if (reply === null) continue;
      link.pendingReplies[token] = null;
      if (link.pendingOp[token] === OP.buy) {
        this.endBuy(link.pendingUser[token]!, link.pendingKey[token]!, answer.outcome);
      }
      if (!reply.aborted) {
        this.currentReply = reply;
        this.currentOp = link.pendingOp[token]!;
        this.currentItem = link.pendingItem[token]!;
        this.currentOutcome = answer.outcome;
        this.currentWaited = answeredAt - link.pendingStartedAt[token]!;
        reply.cork(this.answerCurrent);
      }
    }
    this.checkIdle();
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
}
