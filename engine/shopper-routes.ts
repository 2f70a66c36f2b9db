// The shopper-facing HTTP routes of the contract: the items, tickets and
// challenges, buys, and orders. A request is read synchronously (uWS's req
// dies with the callback), checked cheapest-refusal-first, and handed to the
// shard dispatcher, which answers through the request's reply.

import crypto from 'node:crypto';
import fs from 'node:fs';
import type { HttpRequest } from 'uWebSockets.js';
import { drawFile } from '../persistence/data-directory';
import { itemRowOf, sequenceOf } from '../persistence/order-id';
import { hasNoBody, readBody } from './body-reader';
import { BuyGate, type Buyer } from './buy-gate';
import { ClientAddress, clientAddressOf, resolveClientAddress } from './client-address';
import { BUY_BODY_BYTES_MAX, SMALL_BODY_BYTES_MAX } from './constants';
import type { HttpContext } from './http-context';
import { HEADER, type HttpReply } from './http-reply';
import type { HttpRoutes, RouteHandler } from './http-routes';
import { idempotencyKeyOf, KEY_MALFORMED } from './idempotency-key';
import { requestUser } from './request-user';
import { OP } from './shard';
import type { RequestDispatcher } from './shard-dispatcher';
import { signUserToken } from './user-token';
import { registerWaitlistRoutes } from './waitlist-routes';

const ORDER_ID = /^[1-9][0-9]{0,15}$/;
const ITEM_ID = /^[a-z0-9-]{1,32}$/;
const DEMO_TOKEN_SECONDS = 24 * 3600;

/** The buy body: empty, or a JSON object of string fields "challenge" and "answer" only; null when anything else. */
function parseBuyBody(body: Buffer): { challenge?: string; answer?: string } | null {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    for (const [key, value] of Object.entries(parsed)) {
      if ((key !== 'challenge' && key !== 'answer') || typeof value !== 'string') return null;
    }
    return parsed as { challenge?: string; answer?: string };
  } catch {
    return null;
  }
}

/**
 * A buyer over HTTP: its address read from the socket or the trusted proxy
 * header (only when a limit or a ban asks), its user from the token.
 * One object per app, with one reused ClientAddress: a buy costs neither.
 */
function httpBuyer(ctx: HttpContext): Buyer<HttpReply, HttpRequest> {
  const client = new ClientAddress();
  return {
    rateKey: (reply, req) => (ctx.rateAddress === null ? 0 : resolveClientAddress(ctx, reply.res, req, client).rateKey),
    userId: (_reply, req, nowMs) => requestUser(ctx.verifier, req, nowMs),
    addressBanned: (reply, req) => resolveClientAddress(ctx, reply.res, req, client).banned,
    address: (reply, req) => clientAddressOf(ctx, reply.res, req),
  };
}

function buyRoute(ctx: HttpContext, shards: RequestDispatcher): RouteHandler {
  const { catalog } = ctx;
  const gate = new BuyGate(ctx, httpBuyer(ctx));
  return (reply, req) => {
    const now = Date.now();
    const itemId = req.getParameter(0);
    const itemIndex = catalog.byId.get(itemId);
    if (itemIndex === undefined) return reply.refuse(ITEM_ID.test(itemId) ? 'unknown_item' : 'bad_request');
    const ticket = req.getParameter(1);
    // Idempotency-Key (idempotency-key.ts): KEY_NONE when absent. The ring
    // request's argument carries it to the shard, which writes it into the
    // order's log record.
    const key = idempotencyKeyOf(req.getHeader(HEADER.idempotencyKey));
    if (key === KEY_MALFORMED) return void gate.refuse(reply, itemIndex, 'bad_request');
    const userId = gate.admit(reply, req, itemIndex, ticket, key, now);
    if (userId === 0) return;
    // The common buy has no body: no closure, no body buffer. Its latency is
    // timed from here (performance.now()) to its answer.
    if (hasNoBody(req) && !catalog.items[itemIndex]!.challenge) {
      if (!gate.claim(reply, itemIndex, userId, key)) return;
      return shards.dispatch(reply, OP.buy, itemIndex, userId, key, now, performance.now());
    }
    readBody(reply, req, BUY_BODY_BYTES_MAX, (body) => {
      const fields = parseBuyBody(body);
      if (fields === null) return void gate.refuse(reply, itemIndex, 'bad_request');
      const at = Date.now();
      // The item's state is checked again once the body is in: it can change while the body arrives.
      if (!gate.admitAnswer(reply, itemIndex, ticket, userId, fields.challenge, fields.answer, at, true)) return;
      if (!gate.claim(reply, itemIndex, userId, key)) return;
      shards.dispatch(reply, OP.buy, itemIndex, userId, key, at, performance.now());
    });
  };
}

function orderRoute(ctx: HttpContext, shards: RequestDispatcher, op: number): RouteHandler {
  return (reply, req) => {
    const now = Date.now();
    // The token first: without one, nothing about orders (not even which ids could exist) is told.
    const userId = requestUser(ctx.verifier, req, now);
    if (userId === 0) return reply.refuse('unauthorized');
    const raw = req.getParameter(0);
    if (!ORDER_ID.test(raw)) return reply.refuse('unknown_order');
    const orderId = Number(raw);
    const itemIndex = ctx.catalog.byRow.get(itemRowOf(orderId));
    const sequence = sequenceOf(orderId);
    if (itemIndex === undefined || sequence === 0) return reply.refuse('unknown_order');
    if (op !== OP.getOrder && ctx.closing) return reply.refuse('shutting_down');
    if (op === OP.getOrder) shards.dispatch(reply, op, itemIndex, userId, sequence, now, 0);
    else readBody(reply, req, SMALL_BODY_BYTES_MAX,
      () => shards.dispatch(reply, op, itemIndex, userId, sequence, now, 0));
  };
}

function itemRoutes(routes: HttpRoutes, ctx: HttpContext): void {
  const { catalog } = ctx;
  routes.get('/api/time', 'time', (reply) => reply.json(`{"now":${Date.now()}}`));
  routes.get('/api/items', 'items', (reply) => reply.json(catalog.listBody(Date.now())));
  routes.get('/api/items/:id', 'item', (reply, req) => {
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return reply.refuse('unknown_item');
    reply.json(catalog.itemBody(index, Date.now()));
  });
  routes.get('/api/items/:id/ticket', 'ticket', (reply, req) => {
    const now = Date.now();
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return reply.refuse('unknown_item');
    const item = catalog.items[index]!;
    if (now < item.startsAt) {
      ctx.signals.earlyTicket(index);
      return reply.refuse('not_started', index);
    }
    if (now >= item.endsAt) return reply.refuse('ended');
    reply.json(`{"buyPath":${JSON.stringify(catalog.buyPath(index))}}`);
  });
  routes.get('/api/items/:id/challenge', 'challenge', (reply, req) => {
    const now = Date.now();
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return reply.refuse('unknown_item');
    const userId = requestUser(ctx.verifier, req, now);
    if (userId === 0) return reply.refuse('unauthorized');
    const item = catalog.items[index]!;
    if (!item.challenge) return reply.refuse('bad_request');
    // Issued only from the start: solving takes every shopper a human's
    // time after it, which spreads the start-second spike of buys. Who
    // asks, and from where, is a bot signal either way (bot-signals.ts).
    if (now < item.startsAt) {
      ctx.signals.earlyChallenge(index, userId, clientAddressOf(ctx, reply.res, req), now);
      return reply.refuse('not_started', index);
    }
    if (now >= item.endsAt) return reply.refuse('ended');
    ctx.signals.seen(clientAddressOf(ctx, reply.res, req), userId, now);
    reply.json(JSON.stringify(ctx.challenges.issue(item.id, userId, now)));
  });
  routes.get('/sale.js', 'sale_js', (reply) => {
    reply.count('ok');
    reply.res.writeStatus('200 OK').writeHeader('content-type', 'text/javascript; charset=utf-8')
      .writeHeader('cache-control', 'no-store').end(catalog.saleScript(Date.now()));
  });
}

/**
 * The fair window of an item (fair-window.ts): where the caller stands
 * (the shard that owns the item knows), and the published draw, read from
 * the file its shard wrote once the orders it names were in the log. A
 * draw never changes once written, so each thread keeps the bodies it read.
 */
function fairRoutes(routes: HttpRoutes, ctx: HttpContext, shards: RequestDispatcher): void {
  const { catalog } = ctx;
  routes.get('/api/items/:id/entry', 'entry', (reply, req) => {
    const now = Date.now();
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return reply.refuse('unknown_item');
    const userId = requestUser(ctx.verifier, req, now);
    if (userId === 0) return reply.refuse('unauthorized');
    if (catalog.drawAt(index) === 0) return reply.refuse('not_entered');
    shards.dispatch(reply, OP.entry, index, userId, 0, now, 0);
  });
  const draws = new Map<string, Buffer>();
  routes.get('/api/items/:id/draw', 'draw', (reply, req) => {
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return reply.refuse('unknown_item');
    const drawAt = catalog.drawAt(index);
    if (drawAt === 0 || Date.now() < drawAt) return reply.refuse('not_drawn');
    const file = drawFile(ctx.drawDir, catalog.items[index]!.row, drawAt);
    const known = draws.get(file);
    if (known !== undefined) return reply.json(known, 'public, max-age=3600');
    reply.watch();
    fs.promises.readFile(file).then((body) => {
      draws.set(file, body);
      if (!reply.aborted) reply.cork(() => reply.json(body, 'public, max-age=3600'));
    }, () => {
      // No file: the window had no entrant, or its shard has not drawn it yet.
      if (!reply.aborted) reply.cork(() => reply.refuse('not_drawn'));
    });
  });
}

/** Demo mode only: the route does not exist when FLASH_USER_SECRET is set. */
function demoTokenRoute(routes: HttpRoutes, demoSecret: string): void {
  routes.get('/api/demo/token', 'demo_token', (reply) => {
    const userId = crypto.randomInt(1, 2 ** 47);
    const token = signUserToken(demoSecret, userId, Math.floor(Date.now() / 1000) + DEMO_TOKEN_SECONDS);
    reply.json(JSON.stringify({ userId, token }));
  });
}

export function registerShopperRoutes(routes: HttpRoutes, ctx: HttpContext, shards: RequestDispatcher): void {
  itemRoutes(routes, ctx);
  routes.post('/api/buy/:id/:ticket', 'buy', buyRoute(ctx, shards));
  fairRoutes(routes, ctx, shards);
  routes.get('/api/orders/:orderId', 'order', orderRoute(ctx, shards, OP.getOrder));
  routes.post('/api/orders/:orderId/pay', 'pay', orderRoute(ctx, shards, OP.pay));
  routes.post('/api/orders/:orderId/cancel', 'cancel', orderRoute(ctx, shards, OP.cancel));
  registerWaitlistRoutes(routes, ctx, shards);
  if (ctx.demoUserSecret !== null) demoTokenRoute(routes, ctx.demoUserSecret);
}
