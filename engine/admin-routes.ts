// The admin API under /admin/ (contract, "Admin and operations"): stats,
// pause and resume, restock, order export, snapshot and the audit log. Every
// request needs `Authorization: Bearer <FLASH_ADMIN_TOKEN>`, compared in
// constant time; without a configured token none of these routes exist.
// Every action that changes something is logged with who and what, and kept
// in the database's admin_actions table.

import crypto from 'node:crypto';
import { hasBearerScheme } from './user-token';
import type pino from 'pino';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { addBan, readAdminActions, readBans, removeBan, type Db } from '../persistence/database';
import { ORDER_STATE, ORDER_STATE_NAMES } from '../persistence/log-record';
import { orderIdRange } from '../persistence/order-id';
import type { Persister } from '../persistence/persister';
import { audit, type Caller } from './admin-audit';
import { relayedAddress } from './admin-relay';
import { BanError } from './ban-list';
import type { CatalogChanges } from './catalog-changes';
import type { EventFeed } from './event-feed';
import { eventsRoute } from './event-routes';
import type { ItemDefinition } from '../persistence/item-definition';
import { checkItem, SaleDefinitionError } from './sale-definition';
import { readBody } from './body-reader';
import type { HttpReply } from './http-reply';
import type { HttpRoutes, RouteHandler } from './http-routes';
import type { ItemCatalog } from './item-catalog';
import type { ItemCounters } from './item-counters';
import { ItemRefusal, type ItemsService } from './items-service';
import type { ShardDispatcher } from './shard-dispatcher';
import { SIGNALS_LIMIT_MAX } from './constants';
import type { SignalReport } from './signal-report';

export interface AdminContext {
  token: string;
  catalog: ItemCatalog;
  shards: ShardDispatcher;
  db: Db;
  persister: Persister;
  snapshot: () => Promise<{ path: string; pausedMs: number }>;
  log: pino.Logger;
  /** Bans reach every HTTP thread through these. */
  changes: CatalogChanges;
  items: ItemsService;
  /** Marks requests relayed by another HTTP thread (admin-relay.ts); '' with one thread. */
  relaySecret: string;
  counts: ItemCounters;
  /** The outcome stream: GET /admin/events (event-routes.ts). */
  events: EventFeed;
  /** Bot signals per item, and the suspect users and address blocks (signal-report.ts). */
  signals: SignalReport;
}

const ADMIN_BODY_BYTES_MAX = 4096;
const EXPORT_PAGE_ROWS = 1000;
/** How long an export waits for SQLite to catch up with the log before it answers 503. */
const EXPORT_CATCH_UP_MS = 5000;
const ACTIONS_LIMIT_MAX = 1000;

function sha256(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}

/** Constant-time check of the bearer token: both sides are hashed to equal length first. */
function authorizer(token: string): (req: HttpRequest) => boolean {
  const expected = sha256(token);
  return (req) => {
    const header = req.getHeader('authorization');
    // The scheme is case-insensitive (RFC 9110), as for user tokens.
    if (!hasBearerScheme(header)) return false;
    return crypto.timingSafeEqual(sha256(header.slice(7).trim()), expected);
  };
}

/** Who asked: the actor header, and the client address (as the relaying thread saw it, for a relayed request). */
function callerOf(ctx: AdminContext, res: HttpResponse, req: HttpRequest): Caller {
  const actor = req.getHeader('x-admin-actor').slice(0, 64) || 'admin';
  const socketAddress = (): string => Buffer.from(res.getRemoteAddressAsText()).toString();
  return { actor, address: relayedAddress(req, ctx.relaySecret, socketAddress) };
}

/** Per-item stats: stock, left, orders by state, refusals by reason, bot signals. */
export function itemStats(catalog: ItemCatalog, counts: ItemCounters, signals: SignalReport, nowMs: number):
  Record<string, unknown>[] {
  return catalog.existingIndexes().map((index) => {
    const item = catalog.items[index]!;
    const { won, reserved, paid, confirmed, expired, cancelled, refused } = counts.read(index);
    return {
      id: item.id, state: catalog.state(index, nowMs), paused: catalog.paused[index] === 1, mode: item.mode,
      stock: item.stock, left: Atomics.load(catalog.left, index),
      won, reserved, paid, confirmed, expired, cancelled, refused, signals: signals.item(index),
    };
  });
}

interface ExportFilter {
  format: 'ndjson' | 'csv';
  itemRow: number | null;
  state: number | null;
  from: number;
  to: number;
}

/** Reads the export's query; a string is an error message. */
function exportFilter(req: HttpRequest, catalog: ItemCatalog): ExportFilter | string {
  const format = req.getQuery('format') || 'ndjson';
  if (format !== 'ndjson' && format !== 'csv') return 'format must be ndjson or csv';
  const itemId = req.getQuery('item');
  const itemIndex = itemId ? catalog.byId.get(itemId) : undefined;
  if (itemId && itemIndex === undefined) return `unknown item ${itemId}`;
  const stateName = req.getQuery('state');
  const state = stateName ? ORDER_STATE_NAMES.indexOf(stateName as (typeof ORDER_STATE_NAMES)[number]) : null;
  if (state !== null && state < 1) return `state must be one of ${Object.keys(ORDER_STATE).join(', ')}`;
  const time = (name: string, otherwise: number): number | string => {
    const raw = req.getQuery(name);
    if (!raw) return otherwise;
    return /^[0-9]{1,16}$/.test(raw) ? Number(raw) : `${name} must be epoch milliseconds`;
  };
  const from = time('from', 0);
  const to = time('to', Number.MAX_SAFE_INTEGER);
  if (typeof from === 'string') return from;
  if (typeof to === 'string') return to;
  return { format, itemRow: itemIndex === undefined ? null : catalog.items[itemIndex]!.row, state, from, to };
}

const CSV_HEADER = 'order,item,user,state,createdAt,payBy,updatedAt\n';

async function streamOrders(reply: HttpReply, ctx: AdminContext, filter: ExportFilter): Promise<void> {
  const { res } = reply;
  // The export reads SQLite, which trails the log by milliseconds: wait until it holds everything written so far.
  const positions = ctx.persister.writtenPositions();
  const deadline = Date.now() + EXPORT_CATCH_UP_MS;
  while (!ctx.persister.hasApplied(positions)) {
    if (Date.now() > deadline) {
      if (!reply.aborted) reply.cork(() => reply.refuse('overloaded'));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const itemOf = new Map(ctx.catalog.items.map((item) => [item.row, item.id]));
  const low = filter.itemRow === null ? 0 : orderIdRange(filter.itemRow).first;
  const high = filter.itemRow === null ? Number.MAX_SAFE_INTEGER : orderIdRange(filter.itemRow).last;
  const page = ctx.db.prepare(`SELECT id, item_row, user_id, state, created_at, pay_by, updated_at FROM orders
    WHERE id > ? AND id <= ? AND (? IS NULL OR state = ?) AND created_at >= ? AND created_at < ? ` +
    'ORDER BY id LIMIT ?').raw();
  if (reply.aborted) return;
  reply.count('ok');
  res.cork(() => {
    res.writeStatus('200 OK')
      .writeHeader('content-type', filter.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .writeHeader('cache-control', 'no-store');
    if (filter.format === 'csv') res.write(CSV_HEADER);
  });
  let after = low - 1;
  for (;;) {
    const rows = page.all(after, high, filter.state, filter.state, filter.from, filter.to,
      EXPORT_PAGE_ROWS) as [number, number, number, number, number, number | null, number][];
    if (res.aborted) return;
    if (rows.length === 0) break;
    after = rows[rows.length - 1]![0];
    const lines = rows.map(([id, row, user, state, createdAt, payBy, updatedAt]) => {
      const name = ORDER_STATE_NAMES[state];
      return filter.format === 'csv'
        ? `${id},${itemOf.get(row) ?? ''},${user},${name},${createdAt},${payBy ?? ''},${updatedAt}\n`
        : JSON.stringify({
          order: String(id), item: itemOf.get(row) ?? null, user, state: name, createdAt, payBy, updatedAt,
        }) + '\n';
    }).join('');
    let writable = true;
    res.cork(() => { writable = res.write(lines); });
    // Backpressure: wait for the socket to drain before reading the next page.
    if (!writable) await new Promise<void>((resolve) => res.onWritable(() => { resolve(); return true; }));
    else await new Promise((resolve) => setImmediate(resolve));
  }
  if (!res.aborted) res.cork(() => res.end());
}

function itemIndexOf(ctx: AdminContext, reply: HttpReply, req: HttpRequest): number | undefined {
  const index = ctx.catalog.byId.get(req.getParameter(0));
  if (index === undefined) reply.refuse('unknown_item');
  return index;
}

/** Runs `handle` (a call to the items service, then the answer); a refusal of the service is answered instead. */
function serve(reply: HttpReply, handle: () => void): void {
  try {
    handle();
  } catch (error) {
    if (!(error instanceof ItemRefusal)) throw error;
    if (error.detail === null) reply.refuse(error.code);
    else reply.refuseWithMessage(error.code, error.detail);
  }
}

function pauseRoute(ctx: AdminContext, paused: boolean, authorized: (req: HttpRequest) => boolean): RouteHandler {
  return (reply, req) => {
    if (!authorized(req)) return reply.refuse('unauthorized');
    const index = itemIndexOf(ctx, reply, req);
    if (index === undefined) return;
    serve(reply, () => {
      ctx.items.setPaused(index, paused, callerOf(ctx, reply.res, req));
      reply.json(JSON.stringify({ ...ctx.catalog.publicItem(index, Date.now()), paused }));
    });
  };
}

/** A route on one item with a body: authorised, item found, body read, then `handle`. */
function itemBodyRoute(ctx: AdminContext, authorized: (req: HttpRequest) => boolean,
  handle: (reply: HttpReply, index: number, caller: Caller, body: Buffer) => void): RouteHandler {
  return (reply, req) => {
    if (!authorized(req)) return reply.refuse('unauthorized');
    const index = itemIndexOf(ctx, reply, req);
    if (index === undefined) return;
    const caller = callerOf(ctx, reply.res, req);
    readBody(reply, req, ADMIN_BODY_BYTES_MAX, (body) => handle(reply, index, caller, body));
  };
}

/** POST /admin/items/:id/restock {"add": units}: answered by the item's shard once it has the units. */
function restockRoute(ctx: AdminContext, authorized: (req: HttpRequest) => boolean) {
  return itemBodyRoute(ctx, authorized, (reply, index, caller, body) => {
    let add: unknown;
    try {
      add = (JSON.parse(body.toString('utf8')) as { add?: unknown }).add;
    } catch {
      return reply.refuse('bad_request');
    }
    if (!Number.isSafeInteger(add) || (add as number) < 1) return reply.refuse('bad_request');
    serve(reply, () => ctx.items.restock(index, add as number, caller, reply));
  });
}

/** PUT /admin/items/:id: a JSON object of the fields to change (items-service.ts update). */
function updateRoute(ctx: AdminContext, authorized: (req: HttpRequest) => boolean) {
  return itemBodyRoute(ctx, authorized, (reply, index, caller, body) => {
    let patch: Record<string, unknown>;
    try {
      patch = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new Error('not an object');
    } catch {
      return reply.refuse('bad_request');
    }
    serve(reply, () => {
      ctx.items.update(index, patch, caller);
      reply.json(JSON.stringify(ctx.catalog.publicItem(index, Date.now())));
    });
  });
}

/** POST /admin/items: a new item, sold from the next moment its times allow. */
function createRoute(ctx: AdminContext, authorized: (req: HttpRequest) => boolean): RouteHandler {
  return (reply, req) => {
    if (!authorized(req)) return reply.refuse('unauthorized');
    const caller = callerOf(ctx, reply.res, req);
    readBody(reply, req, ADMIN_BODY_BYTES_MAX, (body) => {
      let item: ItemDefinition;
      try {
        item = checkItem(JSON.parse(body.toString('utf8')) as unknown, 'item');
      } catch (error) {
        if (error instanceof SaleDefinitionError) return reply.refuseWithMessage('bad_request', error.message);
        return reply.refuse('bad_request');
      }
      serve(reply, () => {
        const index = ctx.items.create(item, caller);
        reply.count('ok');
        reply.res.writeStatus('201 Created').writeHeader('content-type', 'application/json')
          .end(JSON.stringify(ctx.catalog.publicItem(index, Date.now())));
      });
    });
  };
}

/** DELETE /admin/items/:id: only an item that is not live and never sold a unit (orders keep their item). */
function deleteRoute(ctx: AdminContext, authorized: (req: HttpRequest) => boolean): RouteHandler {
  return (reply, req) => {
    if (!authorized(req)) return reply.refuse('unauthorized');
    const index = itemIndexOf(ctx, reply, req);
    if (index === undefined) return;
    const caller = callerOf(ctx, reply.res, req);
    serve(reply, () => reply.json(JSON.stringify({ deleted: ctx.items.delete(index, caller) })));
  };
}

interface BanRequest {
  kind: 'user' | 'address';
  value: string;
  reason: string;
}

/** Reads {"user": id} or {"address": "cidr"} (and an optional "reason"); a string is an error message. */
function banRequest(body: Buffer): BanRequest | string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'body must be JSON';
  }
  const reason = typeof parsed.reason === 'string' ? parsed.reason.slice(0, 200) : '';
  if (Number.isSafeInteger(parsed.user) && (parsed.user as number) >= 1 && parsed.address === undefined) {
    return { kind: 'user', value: String(parsed.user), reason };
  }
  if (typeof parsed.address === 'string' && parsed.user === undefined) {
    return { kind: 'address', value: parsed.address, reason };
  }
  return 'give exactly one of "user" (a user id) or "address" (an IP or CIDR range)';
}

/** POST /admin/bans bans, DELETE /admin/bans lifts; both kept in the database. */
function banRoute(ctx: AdminContext, authorized: (req: HttpRequest) => boolean, ban: boolean): RouteHandler {
  return (reply, req) => {
    if (!authorized(req)) return reply.refuse('unauthorized');
    const caller = callerOf(ctx, reply.res, req);
    readBody(reply, req, ADMIN_BODY_BYTES_MAX, (body) => {
      const request = banRequest(body);
      if (typeof request === 'string') return reply.refuseWithMessage('bad_request', request);
      if (ban) {
        // The ban list checks a range's text first; the database keeps the text every thread keeps.
        const change = { kind: 'ban' as const, ban: request.kind, value: request.value };
        try {
          ctx.changes.apply(change);
        } catch (error) {
          if (error instanceof BanError) return reply.refuseWithMessage('bad_request', error.message);
          throw error;
        }
        request.value = change.value;
        addBan(ctx.db, { ...request, at: Date.now(), actor: caller.actor });
      } else {
        ctx.changes.apply({ kind: 'unban', ban: request.kind, value: request.value });
        if (!removeBan(ctx.db, request.kind, request.value)) {
          return reply.refuseWithMessage('not_found', `no ${request.kind} ban ${request.value}`);
        }
      }
      const detail = { kind: request.kind, value: request.value, reason: request.reason };
      audit(ctx.db, ctx.log, caller, ban ? 'ban' : 'unban', detail);
      reply.json(JSON.stringify({ bans: readBans(ctx.db) }));
    });
  };
}

export function registerAdminRoutes(routes: HttpRoutes, ctx: AdminContext): void {
  const authorized = authorizer(ctx.token);
  const { counts } = ctx;
  const guarded = (handler: RouteHandler): RouteHandler => (reply, req) => {
    if (!authorized(req)) return reply.refuse('unauthorized');
    handler(reply, req);
  };
  routes.get('/admin/stats', 'admin', guarded((reply) => {
    const items = itemStats(ctx.catalog, counts, ctx.signals, Date.now());
    reply.json(JSON.stringify({ now: Date.now(), writeBehindLagRecords: ctx.persister.lagRecords(), items }));
  }));
  routes.post('/admin/items/:id/pause', 'admin', pauseRoute(ctx, true, authorized));
  routes.post('/admin/items/:id/resume', 'admin', pauseRoute(ctx, false, authorized));
  routes.post('/admin/items/:id/restock', 'admin', restockRoute(ctx, authorized));
  routes.put('/admin/items/:id', 'admin', updateRoute(ctx, authorized));
  routes.post('/admin/items', 'admin', createRoute(ctx, authorized));
  routes.del('/admin/items/:id', 'admin', deleteRoute(ctx, authorized));
  routes.get('/admin/bans', 'admin', guarded((reply) => reply.json(JSON.stringify({ bans: readBans(ctx.db) }))));
  routes.post('/admin/bans', 'admin', banRoute(ctx, authorized, true));
  routes.del('/admin/bans', 'admin', banRoute(ctx, authorized, false));
  routes.get('/admin/items', 'admin', guarded((reply) => {
    reply.json(JSON.stringify({
      items: ctx.catalog.existingIndexes()
        .map((i) => ({ ...ctx.catalog.publicItem(i, Date.now()), paused: ctx.catalog.paused[i] === 1 })),
    }));
  }));
  routes.get('/admin/orders', 'admin', guarded((reply, req) => {
    const filter = exportFilter(req, ctx.catalog);
    if (typeof filter === 'string') return reply.refuseWithMessage('bad_request', filter);
    reply.watch();
    void streamOrders(reply, ctx, filter).catch((error: Error) => {
      ctx.log.error({ err: error }, 'order export failed');
      if (!reply.aborted) reply.cork(() => reply.res.close());
    });
  }));
  routes.post('/admin/snapshot', 'admin', guarded((reply, req) => {
    const caller = callerOf(ctx, reply.res, req);
    reply.watch();
    void ctx.snapshot().then((result) => {
      audit(ctx.db, ctx.log, caller, 'snapshot', result);
      if (!reply.aborted) reply.cork(() => reply.json(JSON.stringify(result)));
    }, (error: Error) => {
      ctx.log.error({ err: error }, 'snapshot failed');
      if (!reply.aborted) reply.cork(() => reply.refuse('overloaded'));
    });
  }));
  routes.get('/admin/actions', 'admin', guarded((reply, req) => {
    const limit = Math.min(ACTIONS_LIMIT_MAX, Number(req.getQuery('limit')) || 100);
    reply.json(JSON.stringify({ actions: readAdminActions(ctx.db, limit) }));
  }));
  routes.get('/admin/events', 'admin', guarded(eventsRoute(ctx.events,
    (error) => ctx.log.error({ err: error }, 'event stream failed'))));
  // The suspects lists an admin bans from (POST /admin/bans), most suspicious first.
  routes.get('/admin/signals', 'admin', guarded((reply, req) => {
    const limit = Math.max(1, Math.min(SIGNALS_LIMIT_MAX, Math.floor(Number(req.getQuery('limit'))) || 100));
    reply.json(JSON.stringify({ now: Date.now(), ...ctx.signals.list(limit) }));
  }));
  routes.any('/admin/*', 'admin', guarded((reply) => reply.refuse('not_found')));
}
