// The shopper's WebSocket, /ws: MessagePack frames (msgpackr), buys through
// the same gates and shard path as HTTP, and server pushes on per-item
// topics (sale-pushes.ts). Every bound is uWebSockets.js's own: a frame over
// maxPayloadLength closes the connection, a client whose backpressure passes
// maxBackpressure is closed rather than buffered without bound, an idle one
// is pinged and closed when it does not answer. A client that keeps sending
// garbage is disconnected; the engine never is.

import { Unpackr } from 'msgpackr';
import type { HttpRequest, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { BanList } from './ban-list';
import { BuyGate, type Buyer } from './buy-gate';
import { addressBanned, ClientAddress, resolveClientAddress } from './client-address';
import { OPEN_REFUSED, type ConnectionCounts } from './connection-counts';
import type { HttpContext } from './http-context';
import { HttpReply, type HttpAnswers } from './http-reply';
import { idempotencyKeyOf, KEY_MALFORMED, KEY_NONE } from './idempotency-key';
import { ROUTE_INDEX } from './response-counts';
import { OP } from './shard';
import type { RequestDispatcher } from './shard-dispatcher';
import { requestUser } from './request-user';
import { presentsToken } from './user-token';
import { WsAnswers, WsReply, type Connection } from './ws-reply';

/** Largest frame a client may send: a buy with a challenge is under 200 B. */
export const WS_PAYLOAD_BYTES_MAX = 1024;
/** Bytes queued for one slow client before it is dropped. */
export const WS_BACKPRESSURE_BYTES_MAX = 64 * 1024;
/** Bad frames a connection may send before it is closed. */
export const WS_BAD_FRAMES_MAX = 8;
/** Close code for a client closed for garbage (1008: policy violation). */
const CLOSE_POLICY = 1008;

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function isFrameId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** A buyer on the socket: the connection fixed its address key and token at upgrade. */
const SOCKET_BUYER: Buyer<WsReply, BanList> = {
  rateKey: (reply) => reply.conn.addressKey,
  // A token is checked for expiry on every buy, as HTTP does: 0 is no user.
  userId: (reply, _bans, nowMs) => (nowMs < reply.conn.expiresMs ? reply.conn.userId : 0),
  // Bans can change while the socket is open: every buy asks.
  addressBanned: (reply, bans) => addressBanned(bans, reply.conn.address),
  address: (reply) => reply.conn.address,
};

export interface WsChannel {
  /** Open connections, for pushes to subscribe new item topics and for /metrics. */
  readonly sockets: Set<WebSocket<Connection>>;
}

export interface WsSettings {
  /** Open connections over every HTTP thread, against their caps. */
  connections: ConnectionCounts;
  idleSeconds: number;
  /** Called for each socket once open (pushes subscribe it to the item topics). */
  onOpen: (ws: WebSocket<Connection>) => void;
}

export function registerWebSocket(app: TemplatedApp, ctx: HttpContext, shards: RequestDispatcher, answers: HttpAnswers,
  settings: WsSettings): WsChannel {
  const sockets = new Set<WebSocket<Connection>>();
  const { connections } = settings;
  const frames = new WsAnswers(ctx.counts, ctx.catalog);
  const gate = new BuyGate(ctx, SOCKET_BUYER);
  const client = new ClientAddress();

  const badFrame = (reply: WsReply): void => {
    reply.refuse('bad_request');
    const { ws, conn } = reply;
    if (++conn.badFrames >= WS_BAD_FRAMES_MAX && !conn.closed) {
      conn.closed = true;
      ws.end(CLOSE_POLICY, 'too many bad frames');
    }
  };

  const buy = (reply: WsReply, frame: Record<string, unknown>): void => {
    const now = Date.now();
    const { item, ticket } = frame;
    if (typeof item !== 'string' || typeof ticket !== 'string') return badFrame(reply);
    const key = keyOfFrame(frame);
    if (key === KEY_MALFORMED) return badFrame(reply);
    const itemIndex = ctx.catalog.byId.get(item);
    if (itemIndex === undefined) return reply.refuse('unknown_item');
    const userId = gate.admit(reply, ctx.bans, itemIndex, ticket, key, now);
    if (userId === 0) return;
    if (!gate.admitAnswer(reply, itemIndex, ticket, userId, frame.challenge, frame.answer, now, false)) return;
    if (!gate.claim(reply, itemIndex, userId, key)) return;
    shards.dispatch(reply, OP.buy, itemIndex, userId, key, now, performance.now());
  };

  /** Checks an upgrade and answers it: the socket opens, or the upgrade is refused over HTTP. */
  const upgrade = (reply: HttpReply, req: HttpRequest, context: us_socket_context_t): void => {
    if (ctx.closing) return reply.refuse('shutting_down');
    const now = Date.now();
    const { address, rateKey, banned } = resolveClientAddress(ctx, reply.res, req, client);
    if (banned) return reply.refuse('banned');
    // A socket without credentials may watch the sale (pushes, time) but
    // not buy; one that presents a bad token is refused, as HTTP would.
    const { userId, expiresMs } = upgradeUser(ctx, req, now);
    const presented = (req.getQuery('token') ?? '') !== ''
      || presentsToken(req.getHeader('authorization'), req.getHeader('cookie'));
    if (userId === 0 && presented) return reply.refuse('unauthorized');
    // rateKey is 0 when the address is exempt (--rate-exempt): no per-address limit, for buys or sockets.
    const addressSlot = connections.open(rateKey);
    if (addressSlot === OPEN_REFUSED.total) return reply.refuse('overloaded');
    if (addressSlot === OPEN_REFUSED.address) return reply.refuse('rate_limited');
    // A socket with a user is a sighting of that user at this address (bot-signals.ts).
    if (userId !== 0) ctx.signals.seen(address, userId, now);
    // The socket's address is only valid during this callback: the connection keeps a copy.
    const kept = typeof address === 'string' ? address : address.slice(0);
    const conn: Connection = {
      userId, expiresMs: userId === 0 ? 0 : expiresMs, addressSlot, addressKey: rateKey, address: kept,
      badFrames: 0, closed: false,
    };
    reply.count('ok');
    reply.res.upgrade(conn, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'), context);
  };

  app.ws<Connection>('/ws', {
    maxPayloadLength: WS_PAYLOAD_BYTES_MAX,
    maxBackpressure: WS_BACKPRESSURE_BYTES_MAX,
    closeOnBackpressureLimit: 1,
    idleTimeout: settings.idleSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      ctx.counts.requests[ROUTE_INDEX.ws]!++;
      upgrade(new HttpReply(res, ROUTE_INDEX.ws, answers), req, context);
    },
    open: (ws) => {
      sockets.add(ws);
      settings.onOpen(ws);
    },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData();
      const frame = isBinary ? unpackFrame(message) : null;
      const id = frame !== null && Object.hasOwn(frame, 'id') ? frame.id : undefined;
      const reply = new WsReply(ws, conn, isFrameId(id) ? id : null, frames);
      if (frame === null || reply.frameId === null) return badFrame(reply);
      const op = Object.hasOwn(frame, 'op') ? frame.op : undefined;
      if (op === 'buy') return buy(reply, frame);
      if (op === 'time') return reply.send({ now: Date.now() });
      badFrame(reply);
    },
    close: (ws) => {
      const conn = ws.getUserData();
      conn.closed = true;
      connections.close(conn.addressSlot);
      sockets.delete(ws);
    },
  });
  return { sockets };
}

/** A frame's fields, or null when the message is not a MessagePack map. */
function unpackFrame(message: ArrayBuffer): Record<string, unknown> | null {
  let frame: unknown;
  try {
    frame = unpackr.unpack(new Uint8Array(message));
  } catch {
    return null;
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || frame instanceof Uint8Array) return null;
  return frame as Record<string, unknown>;
}

/**
 * The buy frame's idempotency key, the field `key`: KEY_NONE when absent,
 * KEY_MALFORMED when present and not a key (an empty string included: the
 * header's empty value means absent only because uWebSockets.js cannot tell).
 */
function keyOfFrame(frame: Record<string, unknown>): number {
  if (!Object.hasOwn(frame, 'key')) return KEY_NONE;
  const { key } = frame;
  if (typeof key !== 'string' || key.length === 0) return KEY_MALFORMED;
  return idempotencyKeyOf(key);
}

/** The user id of the upgrade's token (Authorization header, cookie, or ?token=), or 0, and when that token expires. */
function upgradeUser(ctx: HttpContext, req: HttpRequest, nowMs: number): { userId: number; expiresMs: number } {
  const fromHeaders = requestUser(ctx.verifier, req, nowMs);
  if (fromHeaders !== 0) return { userId: fromHeaders, expiresMs: ctx.verifier.lastExpiresMs };
  const token = req.getQuery('token') ?? '';
  const userId = token === '' ? 0 : ctx.verifier.verify(token, nowMs);
  return { userId, expiresMs: userId === 0 ? 0 : ctx.verifier.lastExpiresMs };
}
