// The waitlist's shopper routes: POST /api/items/:id/waitlist joins the
// waitlist of a sold-out item, GET /api/items/:id/waitlist tells the
// shopper's place, and its offer once a unit came back to it. A join passes
// the same load, token, rate and ban checks as a buy, in the same order,
// then the item's; the owning shard decides the rest (shard.ts
// joinWaitlist) and answers a new place only once its record is in the log.
// These routes are not the buy path: an answer builds a small string.

import type { HttpRequest } from 'uWebSockets.js';
import { readBody } from './body-reader';
import { buyerGate, loadGate } from './buy-gate';
import { ClientAddress, resolveClientAddress } from './client-address';
import { SMALL_BODY_BYTES_MAX } from './constants';
import type { ErrorCode } from './error-catalog';
import type { HttpContext } from './http-context';
import type { HttpReply } from './http-reply';
import type { HttpRoutes, RouteHandler } from './http-routes';
import { requestUser } from './request-user';
import { OP } from './shard';
import type { RequestDispatcher } from './shard-dispatcher';

/** The join's checks before its shard, cheapest first as a buy's (buy-gate.ts): the refusal, or the user. */
function joinRefusal(ctx: HttpContext, reply: HttpReply, req: HttpRequest, client: ClientAddress, itemIndex: number,
  nowMs: number): { code: ErrorCode } | { userId: number } {
  const address = ctx.rateAddress !== null || ctx.bans.ranges.length > 0
    ? resolveClientAddress(ctx, reply.res, req, client)
    : null;
  const load = loadGate(ctx, address?.rateKey ?? 0, nowMs);
  if (load !== null) return { code: load };
  const userId = requestUser(ctx.verifier, req, nowMs);
  const buyer = buyerGate(ctx, userId, nowMs) ?? (address?.banned === true ? 'banned' : null);
  if (buyer !== null) return { code: buyer };
  const item = ctx.catalog.items[itemIndex]!;
  if (item.waitlist !== true) return { code: 'no_waitlist' };
  if (nowMs < item.startsAt) return { code: 'not_started' };
  if (nowMs >= item.endsAt) return { code: 'ended' };
  if (ctx.closing) return { code: 'shutting_down' };
  if (ctx.catalog.paused[itemIndex] === 1) return { code: 'paused' };
  return { userId };
}

function joinRoute(ctx: HttpContext, shards: RequestDispatcher): RouteHandler {
  const client = new ClientAddress();
  return (reply, req) => {
    const now = Date.now();
    const itemIndex = ctx.catalog.byId.get(req.getParameter(0));
    if (itemIndex === undefined) return reply.refuse('unknown_item');
    const checked = joinRefusal(ctx, reply, req, client, itemIndex, now);
    if ('code' in checked) return reply.refuse(checked.code, itemIndex);
    const { userId } = checked;
    readBody(reply, req, SMALL_BODY_BYTES_MAX, () => shards.dispatch(reply, OP.joinWaitlist, itemIndex, userId, 0,
      now, 0));
  };
}

function placeRoute(ctx: HttpContext, shards: RequestDispatcher): RouteHandler {
  return (reply, req) => {
    const now = Date.now();
    const userId = requestUser(ctx.verifier, req, now);
    if (userId === 0) return reply.refuse('unauthorized');
    const itemIndex = ctx.catalog.byId.get(req.getParameter(0));
    if (itemIndex === undefined) return reply.refuse('unknown_item');
    if (ctx.catalog.items[itemIndex]!.waitlist !== true) return reply.refuse('no_waitlist');
    shards.dispatch(reply, OP.waitlistPlace, itemIndex, userId, 0, now, 0);
  };
}

export function registerWaitlistRoutes(routes: HttpRoutes, ctx: HttpContext, shards: RequestDispatcher): void {
  routes.post('/api/items/:id/waitlist', 'waitlist', joinRoute(ctx, shards));
  routes.get('/api/items/:id/waitlist', 'waitlist', placeRoute(ctx, shards));
}
