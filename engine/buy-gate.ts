// The checks every buy passes before it reaches a shard: one chain, BuyGate,
// that HTTP and the WebSocket both call, so that both transports apply
// exactly the same rules in the same order: load, buyer, address ban, item,
// then challenge. Each is a cheap read of a typed array or a field; the first
// that fails names the refusal, which the gate counts and answers. Each
// transport tells the gate what it learns its own way (Buyer): the client
// address's rate key and range ban, and the user id of its token.
//
// A buy with an Idempotency-Key (idempotency-keys.ts) is looked up once the
// buyer and the item's ticket are known, before the checks that depend on
// the moment (closing, paused, sold out, a buy in flight): a retry of a buy
// that won must get its order back even though the item has sold out since.
// A kept answer is replayed then, with no challenge and no shard; a key in
// flight is answered 409 in_progress, one used on another item 422
// key_reused. The claim begins the key, atomically across threads.
//
// Two refusals are bot signals too (bot-signals.ts): not_started (a buy
// fired before the start, with how early and the client's address) and a
// challenge answered faster than the think time. Only these refusals note
// anything; a buy that passes pays nothing for the signals.

import assert from 'node:assert/strict';
import type { BanList } from './ban-list';
import type { BotSignals } from './bot-signals';
import type { Challenges } from './challenge';
import { isBuyRefusal, OUTCOME, OUTCOME_ERROR, type ErrorCode, type Outcome } from './error-catalog';
import { KEY_NONE } from './idempotency-key';
import { KEY_STATE, type IdempotencyKeys, type KeyAnswer, type KeyState } from './idempotency-keys';
import type { InFlightUsers } from './in-flight-users';
import { REFUSAL, type ItemCatalog } from './item-catalog';
import type { LagMonitor } from './lag-monitor';
import type { LatencyHistogram } from './latency-histogram';
import type { TokenBucketTable } from './rate-limiter';
import type { Reply } from './reply';
import { emptyOrderView, OP, type OrderView } from './shard';
import { ticketMatches } from './ticket';

export interface BuyGateContext {
  catalog: ItemCatalog;
  /** True once shutdown began: writes are refused 503, reads still answered. */
  closing: boolean;
  /** Users with a buy dispatched and not yet answered: one each. */
  inFlight: InFlightUsers;
  /** Idempotency keys of buys and their kept answers, shared by every HTTP thread. */
  keys: IdempotencyKeys;
  challenges: Challenges;
  /** Event-loop lag and whether buys are being shed for it. */
  lag: LagMonitor;
  /** Token buckets per user and per client address; null when turned off. */
  rateUser: TokenBucketTable | null;
  rateAddress: TokenBucketTable | null;
  /** Users and address ranges that admins banned. */
  bans: BanList;
  /** Buy latency, arrival to answer. */
  latency: LatencyHistogram;
  /** Early buys and too-fast answers, per item, per user and per address block. */
  signals: BotSignals;
}

/**
 * Counts a refused buy on its item (by reason) and in the latency histogram,
 * as answered at once. Every code a gate answers is a buy refusal of the
 * error catalog, so it has a counter; one that is not is our mistake.
 */
function countBuyRefusal(ctx: BuyGateContext, itemIndex: number, code: ErrorCode): void {
  assert.ok(isBuyRefusal(code), code);
  ctx.catalog.countRefusal(itemIndex, REFUSAL[code]);
  ctx.latency.record(0);
}

/**
 * How a transport tells the gate who is buying. One object per transport,
 * made once: its methods take the request's reply and what the transport
 * read the request from, so a buy costs no closure.
 */
export interface Buyer<R extends Reply, Q> {
  /** Key of the client address's rate bucket; 0 when no address limit applies (it is off, or the address exempt). */
  rateKey(reply: R, request: Q): number;
  /** The user id of the request's token, 0 for none. Asked after the load checks: it costs an HMAC. */
  userId(reply: R, request: Q, nowMs: number): number;
  /** Whether the client address is in a banned range; asked only while a range is banned. */
  addressBanned(reply: R, request: Q): boolean;
  /**
   * The client address (socket bytes, valid only during the callback, or
   * the trusted proxy header's text); asked only for a bot signal.
   */
  address(reply: R, request: Q): ArrayBuffer | string;
}

export class BuyGate<R extends Reply, Q> {
  /** The kept answer of a key, copied out of the shared table to be replayed; one per gate, reused. */
  private readonly kept: OrderView & KeyAnswer = { ...emptyOrderView(), outcome: OUTCOME.ok };

  constructor(private readonly ctx: BuyGateContext, private readonly buyer: Buyer<R, Q>) {}

  /**
   * Load, buyer, address ban, item, the buy's idempotency `key` (KEY_NONE:
   * none), and the item's state now, in that order, for a buy of the known
   * item `itemIndex`: the user id when every check passes, else 0, the
   * refusal or the kept answer already answered and counted.
   */
  admit(reply: R, request: Q, itemIndex: number, ticket: string, key: number, nowMs: number): number {
    const { ctx, buyer } = this;
    const overload = loadGate(ctx, buyer.rateKey(reply, request), nowMs);
    if (overload !== null) return this.refuse(reply, itemIndex, overload);
    const userId = buyer.userId(reply, request, nowMs);
    const refusal = buyerGate(ctx, userId, nowMs)
      ?? (ctx.bans.ranges.length > 0 && buyer.addressBanned(reply, request) ? 'banned' : null)
      ?? itemGate(ctx, itemIndex, ticket, nowMs);
    if (refusal !== null) {
      // A kept answer outlives the sale: a retry after endsAt gets its order, not `ended`.
      if (refusal === 'ended' && key !== KEY_NONE
        && ctx.keys.look(userId, key, itemIndex, this.kept) === KEY_STATE.done) {
        this.replay(reply, itemIndex);
        return 0;
      }
      if (refusal === 'not_started') this.noteEarly(itemIndex, userId, nowMs, buyer.address(reply, request));
      return this.refuse(reply, itemIndex, refusal);
    }
    // A look only: the claim begins the key, the check that holds across threads.
    if (key !== KEY_NONE && this.answerKept(reply, itemIndex, ctx.keys.look(userId, key, itemIndex, this.kept))) {
      return 0;
    }
    const closed = openGate(ctx, itemIndex, userId);
    if (closed === null) return userId;
    // Another thread may have begun this very key and claimed the user since
    // the look: a second look tells the retry in_progress, not rate_limited.
    if (closed === 'rate_limited' && key !== KEY_NONE
      && this.answerKept(reply, itemIndex, ctx.keys.look(userId, key, itemIndex, this.kept))) return 0;
    return this.refuse(reply, itemIndex, closed);
  }

  /**
   * The checks on what a buy carries after admit(): the item once more when
   * `recheckItem` (its state can change while a body arrives), then the
   * challenge. The item first: a challenge is used up only by a buy that
   * can go on to the shard. False when refused (answered and counted).
   */
  admitAnswer(reply: R, itemIndex: number, ticket: string, userId: number, challenge: unknown, answer: unknown,
    nowMs: number, recheckItem: boolean): boolean {
    const { ctx } = this;
    const itemRefusal = recheckItem
      ? itemGate(ctx, itemIndex, ticket, nowMs) ?? openGate(ctx, itemIndex, userId)
      : null;
    const refusal = itemRefusal ?? challengeGate(ctx, itemIndex, userId, challenge, answer, nowMs);
    if (refusal === null) return true;
    // The request, and with it a proxy header's address, is gone once a body arrived.
    if (refusal === 'not_started') this.noteEarly(itemIndex, userId, nowMs, null);
    this.refuse(reply, itemIndex, refusal);
    return false;
  }

  /**
   * The last step before the shard: begins the buy's idempotency key, then
   * takes the user's one buy in flight, both in tables every HTTP thread
   * shares. admit() looked already, but another thread may have begun the
   * key or claimed the user since; these are the checks that count. False
   * when refused or answered from the key (answered and counted). The
   * dispatcher finishes the key and releases the claim when it answers
   * (shard-dispatcher.ts).
   */
  claim(reply: R, itemIndex: number, userId: number, key: number): boolean {
    const { ctx } = this;
    if (key !== KEY_NONE) {
      const state = ctx.keys.begin(userId, key, itemIndex, this.kept);
      if (state === KEY_STATE.full) {
        this.refuse(reply, itemIndex, 'overloaded');
        return false;
      }
      if (this.answerKept(reply, itemIndex, state)) return false;
    }
    if (ctx.inFlight.add(userId)) return true;
    // Another buy of this user (another key, or none) is in flight: this one gives its key back.
    if (key !== KEY_NONE) ctx.keys.remove(userId, key);
    this.refuse(reply, itemIndex, 'rate_limited');
    return false;
  }

  /** Answers a refused buy of a known item and counts it on the item. Returns 0, the user id of no buy. */
  refuse(reply: R, itemIndex: number, code: ErrorCode): 0 {
    countBuyRefusal(this.ctx, itemIndex, code);
    reply.refuse(code, itemIndex);
    return 0;
  }

  /** A buy refused not_started: a bot signal of its item, user and address. */
  private noteEarly(itemIndex: number, userId: number, nowMs: number, address: ArrayBuffer | string | null): void {
    this.ctx.signals.earlyBuy(itemIndex, userId, this.ctx.catalog.items[itemIndex]!.startsAt, nowMs, address);
  }

  /**
   * Answers from the key's entry when it has something to say (in flight,
   * another item, a kept answer): true when answered. A kept win is the
   * same answer as the first, order id and payBy; a kept refusal the same code.
   */
  private answerKept(reply: R, itemIndex: number, state: KeyState): boolean {
    if (state === KEY_STATE.inFlight) this.refuse(reply, itemIndex, 'in_progress');
    else if (state === KEY_STATE.otherItem) this.refuse(reply, itemIndex, 'key_reused');
    else if (state === KEY_STATE.done) this.replay(reply, itemIndex);
    else return false;
    return true;
  }

  /** Answers the kept answer copied into `kept`: a win as the shard answered it, or its refusal. */
  private replay(reply: R, itemIndex: number): void {
    const outcome = this.kept.outcome as Outcome;
    if (outcome !== OUTCOME.ok) return void this.refuse(reply, itemIndex, OUTCOME_ERROR[outcome]!);
    this.ctx.latency.record(0);
    reply.answer(OP.buy, itemIndex, OUTCOME.ok, this.kept);
  }
}

/**
 * Load, before any token is checked (so a flood costs no HMAC): shedding,
 * then the client address's rate. `addressKey` 0 means no address limit
 * applies to this client (the limit is off, or the address is exempt);
 * addressKey() never returns 0. The waitlist's join passes it too.
 */
export function loadGate(ctx: BuyGateContext, addressKey: number, nowMs: number): ErrorCode | null {
  if (ctx.lag.shedding) return 'overloaded';
  if (ctx.rateAddress !== null && addressKey !== 0 && !ctx.rateAddress.take(addressKey, nowMs)) return 'rate_limited';
  return null;
}

/**
 * The buyer: a valid token (userId 0 is none), the user's rate, a user ban.
 * Address-range bans are asked of the transport, which knows the address.
 * The waitlist's join passes it too.
 */
export function buyerGate(ctx: BuyGateContext, userId: number, nowMs: number): ErrorCode | null {
  if (userId === 0) return 'unauthorized';
  if (ctx.rateUser !== null && !ctx.rateUser.take(userId, nowMs)) return 'rate_limited';
  // Bans are asked about only when an admin set one.
  if (ctx.bans.users.size > 0 && ctx.bans.users.has(userId)) return 'banned';
  return null;
}

/** The item itself: started, not ended, the right ticket. */
function itemGate(ctx: BuyGateContext, itemIndex: number, ticket: string, nowMs: number): ErrorCode | null {
  const { catalog } = ctx;
  const item = catalog.items[itemIndex]!;
  if (nowMs < item.startsAt) return 'not_started';
  if (nowMs >= item.endsAt) return 'ended';
  if (!ticketMatches(ticket, catalog.tickets[itemIndex]!)) return 'bad_ticket';
  return null;
}

/**
 * What can change from one moment to the next: the engine closing, the
 * item paused or sold out, and the user's one buy in flight.
 */
function openGate(ctx: BuyGateContext, itemIndex: number, userId: number): ErrorCode | null {
  const { catalog } = ctx;
  if (ctx.closing) return 'shutting_down';
  if (catalog.paused[itemIndex] === 1) return 'paused';
  // Sold out needs no shard: `left` is the shard's own published count. Not
  // for an item with a fair window, whose entrants' keyed retries are
  // answered what the draw gave them, by the shard only.
  if (Atomics.load(catalog.left, itemIndex) === 0 && catalog.items[itemIndex]!.fairWindowMs === 0) return 'sold_out';
  // One buy in flight per user: parallel buys from one account are a bot's.
  // A look before the challenge is used up; claim() is the check that holds.
  if (ctx.inFlight.size > 0 && ctx.inFlight.has(userId)) return 'rate_limited';
  return null;
}

/** For challenge items: the answer must be right, fresh, not too quick, and used once. */
function challengeGate(ctx: BuyGateContext, itemIndex: number, userId: number, challenge: unknown, answer: unknown,
  nowMs: number): ErrorCode | null {
  const item = ctx.catalog.items[itemIndex]!;
  if (!item.challenge) return null;
  const verdict = ctx.challenges.checkAnswer(item.id, userId, challenge, answer, nowMs);
  if (verdict === 'ok') return null;
  if (verdict === 'too_fast') ctx.signals.tooFastAnswer(itemIndex, userId, nowMs);
  return 'challenge_failed';
}
