// The shopper's WebSocket, /ws: MessagePack frames (msgpackr), buys through
// the same gates and shard path as HTTP, and server pushes on per-item
// topics (sale-pushes.ts). Every bound is uWebSockets.js's own: a frame over
// maxPayloadLength closes the connection, a client whose backpressure passes
// maxBackpressure is closed rather than buffered without bound, an idle one
// is pinged and closed when it does not answer. A client that keeps sending
// garbage is disconnected; the engine never is.

import { Packr, Unpackr } from 'msgpackr';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from 'uWebSockets.js';
import { buyerGate, challengeGate, countBuyRefusal, itemGate, loadGate } from './buy-gate';
import { OUTCOME, OUTCOME_ERROR, type ErrorCode, type Outcome } from './error-catalog';
import type { HttpContext } from './http-server';
import { hashKey } from './key-hash';
import { OP, type OrderView } from './shard';
import type { ShardDispatcher } from './shard-dispatcher';
import { presentsToken } from './user-token';

/** Largest frame a client may send: a buy with a challenge is under 200 B. */
export const WS_PAYLOAD_BYTES_MAX = 1024;
/** Bytes queued for one slow client before it is dropped. */
export const WS_BACKPRESSURE_BYTES_MAX = 64 * 1024;
/** Bad frames a connection may send before it is closed. */
export const WS_BAD_FRAMES_MAX = 8;
/** Close code for a client closed for garbage (1008: policy violation). */
const CLOSE_POLICY = 1008;

export interface Connection {
  userId: number;
  /** When the token the socket was opened with expires (epoch ms); its buys are refused unauthorized from then. 0: no token. */
  expiresMs: number;
  /** The slot of this connection's address in the per-address count, or -1 when not counted. */
  addressSlot: number;
  /** Rate-limit key of the client address, fixed at upgrade. */
  addressKey: number;
  /** The socket address (4 or 16 bytes), or the trusted proxy header's text. */
  address: ArrayBuffer | string;
  badFrames: number;
  closed: boolean;
}

// Maps in and out, never msgpackr's record extension, so any MessagePack
// client can read and write them.
export const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Stands in for an HttpResponse where the shard dispatchers hold one: a
 * buy's answer goes back as a frame on its socket. `aborted` is the
 * socket having closed.
 */
export class WsReply {
  constructor(readonly ws: WebSocket<Connection>, readonly conn: Connection, readonly frameId: number) {}

  get aborted(): boolean {
    return this.conn.closed;
  }

  set aborted(_value: boolean) {
    // The dispatchers reset it before watching; a socket's state is its own.
  }

  onAborted(): this {
    return this;
  }

  cork(answer: () => void): this {
    if (!this.conn.closed) this.ws.cork(answer);
    return this;
  }

  /** Sends the decision: won with the order, or the refusal's code. */
  send(outcome: Outcome, itemId: string, view: OrderView): void {
    if (outcome !== OUTCOME.ok) return sendFrame(this.ws, this.conn, { id: this.frameId, error: OUTCOME_ERROR[outcome]! });
    sendFrame(this.ws, this.conn, { id: this.frameId, result: 'won', order: String(view.orderId), item: itemId, payBy: view.payBy > 0 ? view.payBy : null });
  }
}

function sendFrame(ws: WebSocket<Connection>, conn: Connection, frame: Record<string, unknown>): void {
  // Sending on a closed uWS socket throws; the client is gone, so is the answer.
  if (!conn.closed) ws.send(packr.pack(frame), true);
}

function isFrameId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export interface WsHooks {
  /** Client address key as HTTP computes it (trusted proxy aware); 0 when the address is exempt from per-address limits. */
  addressKeyOf(res: HttpResponse, req: HttpRequest): number;
  /** The user id of the upgrade's token (header, cookie, or ?token=), or 0, and when that token expires. */
  userOf(req: HttpRequest, nowMs: number): { userId: number; expiresMs: number };
  /** Counts an upgrade request on the ws route. */
  countRequest(): void;
  /** Counts one answer on the ws route. */
  countAnswer(outcome: 'ok' | ErrorCode): void;
  sendError(res: HttpResponse, code: ErrorCode): void;
}

export interface WsChannel {
  /** Open connections, for pushes to subscribe new item topics and for /metrics. */
  readonly sockets: Set<WebSocket<Connection>>;
}

/** Slots of the per-address connection count: 2^16 Int32 = 256 KiB, fixed. */
const ADDRESS_SLOTS = 1 << 16;

export interface WsLimits {
  connectionsMax: number;
  /** Open connections one client address may hold (0: no limit). */
  perAddressMax: number;
  idleSeconds: number;
}

export function registerWebSocket(app: TemplatedApp, ctx: HttpContext, shards: ShardDispatcher, hooks: WsHooks, limits: WsLimits,
  onOpen: (ws: WebSocket<Connection>) => void): WsChannel {
  const { catalog } = ctx;
  const sockets = new Set<WebSocket<Connection>>();
  // Open connections per address, direct-mapped by the address's hash: one
  // client cannot take the whole connection cap from everyone else. Two
  // addresses sharing a slot share a count (a 1-in-65,536 chance for each
  // address), which can only make the limit stricter for them, never let an
  // address past it.
  const perAddress = new Int32Array(ADDRESS_SLOTS);

  const refuse = (ws: WebSocket<Connection>, conn: Connection, id: number, itemIndex: number, code: ErrorCode): void => {
    if (itemIndex >= 0) countBuyRefusal(ctx, itemIndex, code);
    hooks.countAnswer(code);
    sendFrame(ws, conn, code === 'not_started' ? { id, error: code, startsAt: catalog.items[itemIndex]!.startsAt } : { id, error: code });
  };

  const badFrame = (ws: WebSocket<Connection>, conn: Connection, id: unknown): void => {
    hooks.countAnswer('bad_request');
    sendFrame(ws, conn, isFrameId(id) ? { id, error: 'bad_request' } : { error: 'bad_request' });
    if (++conn.badFrames >= WS_BAD_FRAMES_MAX && !conn.closed) {
      conn.closed = true;
      ws.end(CLOSE_POLICY, 'too many bad frames');
    }
  };

  const buy = (ws: WebSocket<Connection>, conn: Connection, frame: Record<string, unknown>, id: number): void => {
    const now = Date.now();
    const { item, ticket } = frame;
    if (typeof item !== 'string' || typeof ticket !== 'string') return badFrame(ws, conn, id);
    const itemIndex = catalog.byId.get(item);
    if (itemIndex === undefined) return refuse(ws, conn, id, -1, 'unknown_item');
    // A token is checked for expiry on every buy, as HTTP does: 0 is no user.
    const userId = now < conn.expiresMs ? conn.userId : 0;
    const refusal = loadGate(ctx, conn.addressKey, now) ?? buyerGate(ctx, userId, now)
      ?? (ctx.bans.ranges.length > 0 && addressBanned(ctx, conn.address) ? 'banned' : null)
      ?? itemGate(ctx, itemIndex, ticket, userId, now) ?? challengeGate(ctx, itemIndex, userId, frame.challenge, frame.answer, now);
    if (refusal !== null) return refuse(ws, conn, id, itemIndex, refusal);
    shards.dispatch(new WsReply(ws, conn, id) as unknown as HttpResponse, OP.buy, itemIndex, userId, 0, now, performance.now());
  };

  app.ws<Connection>('/ws', {
    maxPayloadLength: WS_PAYLOAD_BYTES_MAX,
    maxBackpressure: WS_BACKPRESSURE_BYTES_MAX,
    closeOnBackpressureLimit: 1,
    idleTimeout: limits.idleSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      hooks.countRequest();
      if (ctx.closing) return hooks.sendError(res, 'shutting_down');
      if (sockets.size >= limits.connectionsMax) return hooks.sendError(res, 'overloaded');
      const now = Date.now();
      const address: ArrayBuffer | string = ctx.trustedProxyHeader === null ? res.getRemoteAddress().slice(0) : req.getHeader(ctx.trustedProxyHeader);
      if (ctx.bans.ranges.length > 0 && addressBanned(ctx, address)) return hooks.sendError(res, 'banned');
      // A socket without credentials may watch the sale (pushes, time) but
      // not buy; one that presents a bad token is refused, as HTTP would.
      const { userId, expiresMs } = hooks.userOf(req, now);
      const presented = (req.getQuery('token') ?? '') !== '' || presentsToken(req.getHeader('authorization'), req.getHeader('cookie'));
      if (userId === 0 && presented) return hooks.sendError(res, 'unauthorized');
      // 0 when the address is exempt (--rate-exempt): no per-address limit, for buys or sockets.
      const addressKey = hooks.addressKeyOf(res, req);
      let addressSlot = -1;
      if (limits.perAddressMax > 0 && addressKey !== 0) {
        addressSlot = hashKey(addressKey) & (ADDRESS_SLOTS - 1);
        if (perAddress[addressSlot]! >= limits.perAddressMax) return hooks.sendError(res, 'rate_limited');
        perAddress[addressSlot]!++;
      }
      const conn: Connection = { userId, expiresMs: userId === 0 ? 0 : expiresMs, addressSlot, addressKey, address, badFrames: 0, closed: false };
      hooks.countAnswer('ok');
      res.upgrade(conn, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      sockets.add(ws);
      onOpen(ws);
    },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData();
      if (!isBinary) return badFrame(ws, conn, undefined);
      let frame: unknown;
      try {
        frame = unpackr.unpack(new Uint8Array(message));
      } catch {
        return badFrame(ws, conn, undefined);
      }
      if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || frame instanceof Uint8Array) return badFrame(ws, conn, undefined);
      const fields = frame as Record<string, unknown>;
      const id = Object.hasOwn(fields, 'id') ? fields.id : undefined;
      if (!isFrameId(id)) return badFrame(ws, conn, id);
      const op = Object.hasOwn(fields, 'op') ? fields.op : undefined;
      if (op === 'buy') return buy(ws, conn, fields, id);
      if (op === 'time') {
        hooks.countAnswer('ok');
        return sendFrame(ws, conn, { id, now: Date.now() });
      }
      badFrame(ws, conn, id);
    },
    close: (ws) => {
      const conn = ws.getUserData();
      conn.closed = true;
      if (conn.addressSlot >= 0) perAddress[conn.addressSlot]!--;
      sockets.delete(ws);
    },
  });
  return { sockets };
}

function addressBanned(ctx: HttpContext, address: ArrayBuffer | string): boolean {
  return typeof address === 'string' ? ctx.bans.headerAddressBanned(address) : ctx.bans.addressBanned(address);
}
