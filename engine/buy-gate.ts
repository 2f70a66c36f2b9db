// The checks every buy passes before it reaches a shard, shared by HTTP and
// the WebSocket so that both transports apply exactly the same rules. Each
// is a cheap read of a typed array or a field; the first that fails names
// the refusal. Who the buyer is (token, rate limits, bans) is checked before
// this by each transport, since they learn it differently.

import type { Challenges } from './challenge';
import type { ErrorCode } from './error-catalog';
import type { InFlightUsers } from './in-flight-users';
import { REFUSAL, type ItemCatalog } from './item-catalog';
import { ticketMatches } from './ticket';

export interface GateContext {
  catalog: ItemCatalog;
  closing: boolean;
  inFlight: InFlightUsers;
  challenges: Challenges;
}

/** The per-item refusal counter of each code the gates can answer. */
export const REFUSAL_OF: Partial<Record<ErrorCode, number>> = {
  not_started: REFUSAL.notStarted, ended: REFUSAL.ended, bad_ticket: REFUSAL.badTicket, shutting_down: REFUSAL.shuttingDown,
  paused: REFUSAL.paused, sold_out: REFUSAL.soldOut, rate_limited: REFUSAL.rateLimited, challenge_failed: REFUSAL.challengeFailed,
  overloaded: REFUSAL.overloaded, unauthorized: REFUSAL.unauthorized, banned: REFUSAL.banned, bad_request: REFUSAL.badRequest,
};

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
