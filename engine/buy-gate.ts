// The checks every buy passes before it reaches a shard, shared by HTTP and
// the WebSocket so that both transports apply exactly the same rules, in
// the same order: load, buyer, item, challenge. Each is a cheap read of a
// typed array or a field; the first that fails names the refusal. Each
// transport supplies what it learns differently: the client address's key
// and range ban, and the user id of its token.

import assert from 'node:assert/strict';
import type { BanList } from './ban-list';
import type { Challenges } from './challenge';
import { isBuyRefusal, type ErrorCode } from './error-catalog';
import type { InFlightUsers } from './in-flight-users';
import { REFUSAL, type ItemCatalog } from './item-catalog';
import type { LagMonitor } from './lag-monitor';
import type { LatencyHistogram } from './latency-histogram';
import type { TokenBucketTable } from './rate-limiter';
import { ticketMatches } from './ticket';

export interface GateContext {
  catalog: ItemCatalog;
  closing: boolean;
  inFlight: InFlightUsers;
  challenges: Challenges;
  lag: LagMonitor;
  rateUser: TokenBucketTable | null;
  rateAddress: TokenBucketTable | null;
  bans: BanList;
  latency: LatencyHistogram;
}

/**
 * Counts a refused buy on its item (by reason) and in the latency histogram,
 * as answered at once. Every code a gate answers is a buy refusal of the
 * error catalog, so it has a counter; one that is not is our mistake.
 */
export function countBuyRefusal(ctx: GateContext, itemIndex: number, code: ErrorCode): void {
  assert.ok(isBuyRefusal(code), code);
  ctx.catalog.countRefusal(itemIndex, REFUSAL[code]);
  ctx.latency.record(0);
}

/**
 * Load, before any token is checked (so a flood costs no HMAC): shedding,
 * then the client address's rate. `addressKey` 0 means no address limit
 * applies to this client (the limit is off, or the address is exempt);
 * addressKey() never returns 0.
 */
export function loadGate(ctx: GateContext, addressKey: number, nowMs: number): ErrorCode | null {
  if (ctx.lag.shedding) return 'overloaded';
  if (ctx.rateAddress !== null && addressKey !== 0 && !ctx.rateAddress.take(addressKey, nowMs)) return 'rate_limited';
  return null;
}

/**
 * The buyer: a valid token (userId 0 is none), the user's rate, a user ban.
 * Address-range bans stay with the transport, which knows the address.
 */
export function buyerGate(ctx: GateContext, userId: number, nowMs: number): ErrorCode | null {
  if (userId === 0) return 'unauthorized';
  if (ctx.rateUser !== null && !ctx.rateUser.take(userId, nowMs)) return 'rate_limited';
  // Bans are asked about only when an admin set one.
  if (ctx.bans.users.size > 0 && ctx.bans.users.has(userId)) return 'banned';
  return null;
}

/** The item's own state: started, not ended, the right ticket, open, not paused, not sold out; and the user's one buy in flight. */
export function itemGate(ctx: GateContext, itemIndex: number, ticket: string, userId: number, nowMs: number): ErrorCode | null {
  const { catalog } = ctx;
  const item = catalog.items[itemIndex]!;
  if (nowMs < item.startsAt) return 'not_started';
  if (nowMs >= item.endsAt) return 'ended';
  if (!ticketMatches(ticket, catalog.tickets[itemIndex]!)) return 'bad_ticket';
  if (ctx.closing) return 'shutting_down';
  if (catalog.paused[itemIndex] === 1) return 'paused';
  // Sold out needs no shard: `left` is the shard's own published count.
  if (Atomics.load(catalog.left, itemIndex) === 0) return 'sold_out';
  // One buy in flight per user: parallel buys from one account are a bot's.
  if (ctx.inFlight.size > 0 && ctx.inFlight.has(userId)) return 'rate_limited';
  return null;
}

/** For challenge items: the answer must be right, fresh, not too quick, and used once. */
export function challengeGate(ctx: GateContext, itemIndex: number, userId: number, challenge: unknown, answer: unknown, nowMs: number): ErrorCode | null {
  const item = ctx.catalog.items[itemIndex]!;
  if (!item.challenge) return null;
  return ctx.challenges.check(item.id, userId, challenge, answer, nowMs) === 'ok' ? null : 'challenge_failed';
}
