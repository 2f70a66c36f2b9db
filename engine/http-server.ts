// The shopper-facing HTTP routes of the contract on uWebSockets.js. A
// request is read synchronously (uWS's req dies with the callback), checked
// in the order cheapest-refusal-first, and handed to the shard dispatcher.
// Refusals are prebuilt byte buffers; won answers and order views are
// written into one reused buffer (answer-writer.ts).

import { watchAborted } from './response-abort';
import crypto from 'node:crypto';
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp } from 'uWebSockets.js';
import { ORDER_STATE_NAMES } from '../persistence/log-record';
import { itemRowOf, sequenceOf } from '../persistence/order-id';
import { registerAdminRoutes, type AdminContext } from './admin-routes';
import { AnswerWriter, FRAGMENT } from './answer-writer';
import { addressInRanges, headerAddressInRanges, type AddressRange, type BanList } from './ban-list';
import type { LagMonitor } from './lag-monitor';
import { addressKey, type TokenBucketTable } from './rate-limiter';
import type { LatencyHistogram } from './latency-histogram';
import { BUY_BODY_BYTES_MAX, SMALL_BODY_BYTES_MAX } from './constants';
import { ERROR_BODIES, ERRORS, OUTCOME, OUTCOME_ERROR, RETRY_AFTER_SECONDS, type ErrorCode, type Outcome } from './error-catalog';
import { REFUSAL, type ItemCatalog } from './item-catalog';
import { OP, type OrderView } from './shard';
import { registerWebSocket, WsReply, type WsChannel, type WsLimits } from './ws-channel';
import type { Answerer, ShardDispatcher } from './shard-dispatcher';
import { matchesEtag, pickVariant, type StaticFile, type StaticVariant } from './static-files';
import { buyerGate, challengeGate, countBuyRefusal, itemGate, loadGate } from './buy-gate';
import type { Challenges } from './challenge';
import type { InFlightUsers } from './in-flight-users';
import { signUserToken, verifyRequestToken, type UserTokenVerifier } from './user-token';

export interface HttpContext {
  catalog: ItemCatalog;
  verifier: UserTokenVerifier;
  staticFiles: Map<string, StaticFile>;
  /** Set in demo mode only: the secret GET /api/demo/token signs with. */
  demoUserSecret: string | null;
  /** True once shutdown began: writes are refused 503, reads still answered. */
  closing: boolean;
  /** Buy latency, arrival to answer. */
  latency: LatencyHistogram;
  /** Requests per route, counted on arrival (ROUTE). */
  routeCounts: Float64Array;
  /** True while every shard thread and the persistence thread are alive. */
  threadsAlive: () => boolean;
  /** Users and address ranges that admins banned. */
  bans: BanList;
  /** Lower-case header naming the client address behind a trusted proxy, or null. */
  trustedProxyHeader: string | null;
  /** Event-loop lag and whether buys are being shed for it. */
  lag: LagMonitor;
  /** Token buckets per user and per client address; null when turned off. */
  rateUser: TokenBucketTable | null;
  rateAddress: TokenBucketTable | null;
  /** Address ranges exempt from the per-address limits (--rate-exempt); empty for none. */
  rateExempt: AddressRange[];
  /** Users with a buy dispatched and not yet answered: one each. */
  inFlight: InFlightUsers;
  challenges: Challenges;
  /** Request URL and header block limits (0: off). */
  maxUrlBytes: number;
  maxHeaderBytes: number;
}

// Header names, values and status lines as bytes: uWS takes them as they are,
// where a JS string would be converted to UTF-8 on every call.
const HEADER = {
  authorization: Buffer.from('authorization'),
  cookie: Buffer.from('cookie'),
  contentLength: Buffer.from('content-length'),
  contentType: Buffer.from('content-type'),
  cacheControl: Buffer.from('cache-control'),
  retryAfter: Buffer.from('retry-after'),
  transferEncoding: Buffer.from('transfer-encoding'),
} as const;
const JSON_TYPE = Buffer.from('application/json');
const STATUS_OK = Buffer.from('200 OK');
const RETRY_AFTER = Buffer.from(RETRY_AFTER_SECONDS);
const ERROR_STATUS = Object.fromEntries(Object.entries(ERRORS).map(([code, entry]) => [code, Buffer.from(entry.status)])) as Record<ErrorCode, Buffer>;
const ORDER_ID = /^[1-9][0-9]{0,15}$/;
const ITEM_ID = /^[a-z0-9-]{1,32}$/;
const DEMO_TOKEN_SECONDS = 24 * 3600;

/** Routes whose requests /metrics counts (flash_http_requests_total{route}). */
export const ROUTE_NAMES = ['buy', 'order', 'pay', 'cancel', 'time', 'items', 'item', 'ticket', 'challenge', 'ws', 'sale_js', 'health', 'demo_token', 'static', 'not_found', 'admin', 'metrics'] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];
const ROUTE_INDEX = Object.fromEntries(ROUTE_NAMES.map((name, index) => [name, index])) as Record<RouteName, number>;

/**
 * Responses by route and outcome (flash_http_responses_total): outcome 0 is
 * "ok", then one per error code of the catalog. The route is the one whose
 * handler is running (set by counted(), and around body callbacks), or the
 * one an answer from a shard belongs to (HttpAnswerer).
 */
export const RESPONSE_OUTCOMES = ['ok', ...Object.keys(ERRORS)] as const;
const OUTCOME_INDEX = Object.fromEntries(RESPONSE_OUTCOMES.map((name, index) => [name, index])) as Record<string, number>;
const responses = { counts: null as Float64Array | null, route: -1 };

/** Counts an answer on the running route (nothing outside a counted handler). */
function countResponse(outcome: number): void {
  if (responses.route >= 0 && responses.counts !== null) responses.counts[responses.route * RESPONSE_OUTCOMES.length + outcome]++;
}

/** Counts an answer written away from its handler (streams, promises) on a named route. */
export function countRouteResponse(route: RouteName, outcome: 'ok' | ErrorCode): void {
  asRoute(ROUTE_INDEX[route], () => countResponse(OUTCOME_INDEX[outcome]!));
}

/** Counts an answer written by hand on the running route. */
export function countHandWritten(outcome: 'ok' | ErrorCode): void {
  countResponse(OUTCOME_INDEX[outcome]!);
}

/** Runs `answer` as route `route` (for answers written after the handler returned). */
function asRoute(route: number, answer: () => void): void {
  const previous = responses.route;
  responses.route = route;
  try {
    answer();
  } finally {
    responses.route = previous;
  }
}

export function sendError(res: HttpResponse, code: ErrorCode, body: Buffer = ERROR_BODIES[code]): void {
  countResponse(OUTCOME_INDEX[code]!);
  res.writeStatus(ERROR_STATUS[code]).writeHeader(HEADER.contentType, JSON_TYPE);
  if (ERRORS[code].retryAfter) res.writeHeader(HEADER.retryAfter, RETRY_AFTER);
  res.end(body);
}

export function sendJson(res: HttpResponse, body: Buffer | string, cacheControl = 'no-store'): void {
  countResponse(0);
  res.writeStatus(STATUS_OK).writeHeader(HEADER.contentType, JSON_TYPE).writeHeader(HEADER.cacheControl, cacheControl).end(body);
}

/** Answers shard outcomes; one writer buffer, reused for every answer. */
export class HttpAnswerer implements Answerer {
  private readonly writer = new AnswerWriter();
  private readonly stateBytes = ORDER_STATE_NAMES.map((name) => Buffer.from(name));

  constructor(private readonly catalog: ItemCatalog, private readonly latency: LatencyHistogram) {}

  answer(res: HttpResponse, op: number, itemIndex: number, outcome: Outcome, view: OrderView, waitedMs: number): void {
    // As asRoute(), without a closure per answer: this runs for every buy.
    const previous = responses.route;
    responses.route = ROUTE_OF_OP[op]!;
    try {
      this.write(res, op, itemIndex, outcome, view, waitedMs);
    } finally {
      responses.route = previous;
    }
  }

  private write(res: HttpResponse, op: number, itemIndex: number, outcome: Outcome, view: OrderView, waitedMs: number): void {
    if (op === OP.buy) {
      this.latency.record(waitedMs);
      if (outcome === OUTCOME.overloaded) this.catalog.countRefusal(itemIndex, REFUSAL.overloaded);
    }
    if (res instanceof WsReply) {
      // A buy that came over the WebSocket: its answer is a frame.
      responses.route = ROUTE_INDEX.ws;
      countResponse(outcome === OUTCOME.ok ? 0 : OUTCOME_INDEX[OUTCOME_ERROR[outcome]!]!);
      res.send(outcome, this.catalog.items[itemIndex]!.id, view);
      return;
    }
    if (outcome !== OUTCOME.ok) {
      sendError(res, OUTCOME_ERROR[outcome]!);
      return;
    }
    if (op === OP.restock) {
      // An admin answer: the item as it is now that its shard has the new stock.
      this.catalog.invalidate();
      sendJson(res, JSON.stringify(this.catalog.publicItem(itemIndex, Date.now())));
      return;
    }
    const w = this.writer.reset();
    const id = this.catalog.idBytes[itemIndex]!;
    if (op === OP.buy) {
      w.bytes(FRAGMENT.wonOrder).integer(view.orderId).bytes(FRAGMENT.wonItem).bytes(id).bytes(FRAGMENT.wonPayBy).timeOrNull(view.payBy).bytes(FRAGMENT.close);
    } else {
      w.bytes(FRAGMENT.viewOrder).integer(view.orderId).bytes(FRAGMENT.viewItem).bytes(id).bytes(FRAGMENT.viewUser).integer(view.userId)
        .bytes(FRAGMENT.viewState).bytes(this.stateBytes[view.state]!).bytes(FRAGMENT.viewCreatedAt).integer(view.createdAt)
        .bytes(FRAGMENT.viewPayBy).timeOrNull(view.payBy).bytes(FRAGMENT.close);
    }
    countResponse(0);
    res.writeStatus(STATUS_OK).writeHeader(HEADER.contentType, JSON_TYPE).end(w.view());
  }
}

/** The route each shard op answers for. */
const ROUTE_OF_OP: number[] = [];
ROUTE_OF_OP[OP.buy] = ROUTE_INDEX.buy;
ROUTE_OF_OP[OP.getOrder] = ROUTE_INDEX.order;
ROUTE_OF_OP[OP.pay] = ROUTE_INDEX.pay;
ROUTE_OF_OP[OP.cancel] = ROUTE_INDEX.cancel;
ROUTE_OF_OP[OP.restock] = ROUTE_INDEX.admin;


type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** Request size limits (0: off), set once by createHttpApp from the configuration. */
const requestLimits = { urlBytes: 0, headerBytes: 0 };

/**
 * 414 or 431 for a request whose URL or header block is past the limits.
 * uWebSockets.js bounds both itself (it drops a connection whose header
 * block passes about 64 KiB); these are the engine's tighter, answered ones.
 */
function sizeRefusal(req: HttpRequest): ErrorCode | null {
  if (requestLimits.urlBytes > 0 && req.getUrl().length + (req.getQuery() ?? "").length > requestLimits.urlBytes) return 'url_too_long';
  if (requestLimits.headerBytes > 0) {
    let bytes = 0;
    req.forEach((key, value) => {
      bytes += key.length + value.length + 4;
    });
    if (bytes > requestLimits.headerBytes) return 'headers_too_large';
  }
  return null;
}

/**
 * Counts a request on arrival, checks its size, then handles it. The buy
 * route skips the size check (it costs a string per header): its path
 * parameters are checked exactly, and what it reads of its headers is
 * bounded by the token format.
 */
export function counted(ctx: { routeCounts: Float64Array }, route: RouteName, handler: Handler): Handler {
  const index = ROUTE_INDEX[route];
  const checkSize = route !== 'buy';
  return (res, req) => {
    ctx.routeCounts[index]++;
    responses.route = index;
    try {
      const refusal = checkSize ? sizeRefusal(req) : null;
      if (refusal !== null) sendError(res, refusal);
      else handler(res, req);
    } finally {
      responses.route = -1;
    }
  };
}

/** Where responses by route and outcome are counted: ROUTE_NAMES.length * RESPONSE_OUTCOMES.length. */
export function countResponsesInto(counts: Float64Array): void {
  responses.counts = counts;
}

/** The client's address is the socket's, or the trusted proxy header's when one is configured (and only then). */
function addressBanned(ctx: HttpContext, res: HttpResponse, req: HttpRequest): boolean {
  return ctx.trustedProxyHeader === null ? ctx.bans.addressBanned(res.getRemoteAddress()) : ctx.bans.headerAddressBanned(req.getHeader(ctx.trustedProxyHeader));
}

/** Whether the client's address (socket, or trusted proxy header) is in a --rate-exempt range. */
function addressExempt(ctx: HttpContext, res: HttpResponse, req: HttpRequest): boolean {
  if (ctx.rateExempt.length === 0) return false;
  return ctx.trustedProxyHeader === null ? addressInRanges(res.getRemoteAddress(), ctx.rateExempt) : headerAddressInRanges(req.getHeader(ctx.trustedProxyHeader), ctx.rateExempt);
}

/** The key of the client's address bucket, or 0 when no address limit applies to it (off, or exempt). */
function limitedAddressKey(ctx: HttpContext, res: HttpResponse, req: HttpRequest): number {
  if (ctx.rateAddress === null) return 0;
  if (ctx.rateExempt.length > 0 && ctx.trustedProxyHeader === null) {
    // One read of the socket's address for both questions.
    const address = res.getRemoteAddress();
    return addressInRanges(address, ctx.rateExempt) ? 0 : addressKey(address);
  }
  return addressExempt(ctx, res, req) ? 0 : clientAddressKey(ctx, res, req);
}

/** A number standing for the client's address (socket, or trusted proxy header), for its token bucket. */
function clientAddressKey(ctx: HttpContext, res: HttpResponse, req: HttpRequest): number {
  if (ctx.trustedProxyHeader === null) return addressKey(res.getRemoteAddress());
  const header = req.getHeader(ctx.trustedProxyHeader);
  // The last entry is the one the trusted proxy appended; hash its text.
  return addressKey(Buffer.from(header.slice(header.lastIndexOf(',') + 1).trim(), 'latin1'));
}

/** The user id of the request's token, or 0. Reads the cookie only when there is no Authorization header. */
function authenticate(req: HttpRequest, ctx: HttpContext, nowMs: number): number {
  return verifyRequestToken(ctx.verifier, req.getHeader(HEADER.authorization), req, HEADER.cookie, nowMs);
}

/**
 * Reads a small body, then calls `done` with it (or answers 413/400 itself).
 * Content-Length is required for a body: uWS gives no total otherwise.
 */
/** Whether the request announces a body without a Content-Length (Transfer-Encoding, chunked). */
function sendsBodyWithoutLength(req: HttpRequest): boolean {
  return req.getHeader(HEADER.transferEncoding) !== '';
}

/** Refuses a request whose body will not be read; the connection cannot be reused, so it is closed after the answer. */
function refuseUnreadBody(res: HttpResponse, code: ErrorCode): void {
  countResponse(OUTCOME_INDEX[code]!);
  res.writeStatus(ERROR_STATUS[code]).writeHeader(HEADER.contentType, JSON_TYPE).end(ERROR_BODIES[code], true);
}

export function readBody(res: HttpResponse, req: HttpRequest, bytesMax: number, done: (body: Buffer) => void): void {
  const lengthHeader = req.getHeader(HEADER.contentLength);
  if (lengthHeader === '0' || (lengthHeader === '' && !sendsBodyWithoutLength(req))) {
    done(EMPTY);
    return;
  }
  // A body must say its length: one sent chunked would otherwise be ignored
  // (a buy taken as bodiless, a challenge answer dropped). Refused, and the
  // connection closed, since its body is not read.
  if (lengthHeader === '') return refuseUnreadBody(res, 'bad_request');
  if (!/^[0-9]{1,20}$/.test(lengthHeader)) return refuseUnreadBody(res, 'bad_request');
  const length = Number(lengthHeader);
  if (length > bytesMax) return refuseUnreadBody(res, 'too_large');
  const body = Buffer.allocUnsafe(length);
  let received = 0;
  const route = responses.route;
  watchAborted(res);
  res.onData((chunk, isLast) => {
    const bytes = new Uint8Array(chunk);
    if (received + bytes.length > length) {
      res.cork(() => asRoute(route, () => sendError(res, 'bad_request')));
      res.aborted = true;
      return;
    }
    body.set(bytes, received);
    received += bytes.length;
    if (isLast && !res.aborted) {
      if (received !== length) res.cork(() => asRoute(route, () => sendError(res, 'bad_request')));
      else res.cork(() => asRoute(route, () => done(body)));
    }
  });
}

const EMPTY = Buffer.alloc(0);

/** The buy body: empty, or a JSON object with string fields "challenge" and "answer" only; null when it is anything else. */
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

function buyRoute(ctx: HttpContext, shards: ShardDispatcher) {
  const { catalog } = ctx;
  const refuse = (res: HttpResponse, itemIndex: number, code: ErrorCode): void => {
    countBuyRefusal(ctx, itemIndex, code);
    sendError(res, code, code === 'not_started' ? catalog.notStartedBodies[itemIndex] : undefined);
  };
  return (res: HttpResponse, req: HttpRequest): void => {
    const now = Date.now();
    const itemId = req.getParameter(0);
    const itemIndex = catalog.byId.get(itemId);
    if (itemIndex === undefined) return sendError(res, ITEM_ID.test(itemId) ? 'unknown_item' : 'bad_request');
    const overload = loadGate(ctx, limitedAddressKey(ctx, res, req), now);
    if (overload !== null) return refuse(res, itemIndex, overload);
    const userId = authenticate(req, ctx, now);
    const refusal = buyerGate(ctx, userId, now) ?? (ctx.bans.ranges.length > 0 && addressBanned(ctx, res, req) ? 'banned' : null)
      ?? itemGate(ctx, itemIndex, req.getParameter(1), userId, now);
    if (refusal !== null) return refuse(res, itemIndex, refusal);
    const length = req.getHeader(HEADER.contentLength);
    const item = catalog.items[itemIndex]!;
    // The common buy has no body: no closure, no body buffer. Its latency is
    // timed from here (performance.now()) to its answer.
    if ((length === '0' || (length === '' && !sendsBodyWithoutLength(req))) && !item.challenge) return shards.dispatch(res, OP.buy, itemIndex, userId, 0, now, performance.now());
    // The item's state is checked again once the body is in: it can change while the body arrives.
    const ticket = req.getParameter(1);
    readBody(res, req, BUY_BODY_BYTES_MAX, (body) => {
      const fields = parseBuyBody(body);
      if (fields === null) return refuse(res, itemIndex, 'bad_request');
      const at = Date.now();
      // The item first: a challenge is used up only by a buy that can go on to the shard.
      const failed = itemGate(ctx, itemIndex, ticket, userId, at) ?? challengeGate(ctx, itemIndex, userId, fields.challenge, fields.answer, at);
      if (failed !== null) return refuse(res, itemIndex, failed);
      shards.dispatch(res, OP.buy, itemIndex, userId, 0, at, performance.now());
    });
  };
}

function orderRoute(ctx: HttpContext, shards: ShardDispatcher, op: number) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const now = Date.now();
    // The token first: without one, nothing about orders (not even which ids could exist) is told.
    const userId = authenticate(req, ctx, now);
    if (userId === 0) return sendError(res, 'unauthorized');
    const raw = req.getParameter(0);
    if (!ORDER_ID.test(raw)) return sendError(res, 'unknown_order');
    const orderId = Number(raw);
    const itemIndex = ctx.catalog.byRow.get(itemRowOf(orderId));
    const sequence = sequenceOf(orderId);
    if (itemIndex === undefined || sequence === 0) return sendError(res, 'unknown_order');
    if (op !== OP.getOrder && ctx.closing) return sendError(res, 'shutting_down');
    if (op === OP.getOrder) shards.dispatch(res, op, itemIndex, userId, sequence, now, 0);
    else readBody(res, req, SMALL_BODY_BYTES_MAX, () => shards.dispatch(res, op, itemIndex, userId, sequence, now, 0));
  };
}

function itemRoutes(app: TemplatedApp, ctx: HttpContext): void {
  const { catalog } = ctx;
  app.get('/api/time', counted(ctx, 'time', (res) => sendJson(res, `{"now":${Date.now()}}`)));
  app.get('/api/items', counted(ctx, 'items', (res) => sendJson(res, catalog.listBody(Date.now()))));
  app.get('/api/items/:id', counted(ctx, 'item', (res, req) => {
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return sendError(res, 'unknown_item');
    sendJson(res, catalog.itemBody(index, Date.now()));
  }));
  app.get('/api/items/:id/ticket', counted(ctx, 'ticket', (res, req) => {
    const now = Date.now();
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return sendError(res, 'unknown_item');
    const item = catalog.items[index]!;
    if (now < item.startsAt) return sendError(res, 'not_started', catalog.notStartedBodies[index]);
    if (now >= item.endsAt) return sendError(res, 'ended');
    sendJson(res, `{"buyPath":${JSON.stringify(catalog.buyPath(index))}}`);
  }));
  app.get('/api/items/:id/challenge', counted(ctx, 'challenge', (res, req) => {
    const now = Date.now();
    const index = catalog.byId.get(req.getParameter(0));
    if (index === undefined) return sendError(res, 'unknown_item');
    const userId = authenticate(req, ctx, now);
    if (userId === 0) return sendError(res, 'unauthorized');
    const item = catalog.items[index]!;
    if (!item.challenge) return sendError(res, 'bad_request');
    // Issued only from the start: solving takes every shopper a human's
    // time after it, which spreads the start-second spike of buys.
    if (now < item.startsAt) return sendError(res, 'not_started', catalog.notStartedBodies[index]);
    if (now >= item.endsAt) return sendError(res, 'ended');
    sendJson(res, JSON.stringify(ctx.challenges.issue(item.id, userId, now)));
  }));
  app.get('/sale.js', counted(ctx, 'sale_js', (res) => {
    countResponse(0);
    res.writeStatus('200 OK').writeHeader('content-type', 'text/javascript; charset=utf-8')
      .writeHeader('cache-control', 'no-store').end(catalog.saleScript(Date.now()));
  }));
}

function operationalRoutes(app: TemplatedApp, ctx: HttpContext): void {
  app.get('/healthz', counted(ctx, 'health', (res) => sendJson(res, '{"status":"ok"}')));
  app.get('/readyz', counted(ctx, 'health', (res) => {
    if (ctx.closing) return sendError(res, 'shutting_down');
    // Listening means recovery is done; the threads must be alive too.
    if (!ctx.threadsAlive()) return sendError(res, 'overloaded');
    sendJson(res, '{"status":"ready"}');
  }));
  const demoSecret = ctx.demoUserSecret;
  if (demoSecret !== null) {
    // Demo mode only: the route does not exist when FLASH_USER_SECRET is set.
    app.get('/api/demo/token', counted(ctx, 'demo_token', (res) => {
      const userId = crypto.randomInt(1, 2 ** 47);
      const token = signUserToken(demoSecret, userId, Math.floor(Date.now() / 1000) + DEMO_TOKEN_SECONDS);
      sendJson(res, JSON.stringify({ userId, token }));
    }));
  }
}

/** Headers of a static answer, the same for GET, HEAD and 304. */
function writeStaticHeaders(res: HttpResponse, file: StaticFile, variant: StaticVariant): void {
  res.writeHeader('etag', variant.etag).writeHeader('cache-control', file.cacheControl).writeHeader('vary', 'Accept-Encoding');
}

function staticRoutes(app: TemplatedApp, ctx: HttpContext): void {
  const serve = (res: HttpResponse, req: HttpRequest, withBody: boolean): void => {
    const file = ctx.staticFiles.get(req.getUrl());
    if (!file) {
      countHandWritten('not_found');
      // HEAD answers the status and headers a GET would, and never a body (a
      // body would corrupt the keep-alive stream). end() with nothing: this
      // uWebSockets.js build ends the process on endWithoutBody() there.
      if (withBody) res.writeStatus(ERRORS.not_found.status).writeHeader(HEADER.contentType, JSON_TYPE).end(ERROR_BODIES.not_found);
      else res.writeStatus(ERRORS.not_found.status).end();
      return;
    }
    const variant = pickVariant(file, req.getHeader('accept-encoding'));
    countHandWritten('ok');
    if (matchesEtag(req.getHeader('if-none-match'), variant.etag)) {
      res.writeStatus('304 Not Modified');
      writeStaticHeaders(res, file, variant);
      res.end();
      return;
    }
    res.writeStatus('200 OK').writeHeader('content-type', file.contentType);
    if (variant.encoding !== 'identity') res.writeHeader('content-encoding', variant.encoding);
    writeStaticHeaders(res, file, variant);
    if (withBody) res.end(variant.body);
    else res.end();
  };
  app.get('/*', counted(ctx, 'static', (res, req) => serve(res, req, true)));
  app.head('/*', counted(ctx, 'static', (res, req) => serve(res, req, false)));
  app.any('/*', counted(ctx, 'not_found', (res) => sendError(res, 'not_found')));
}

export interface WsSettings extends WsLimits {
  onOpen: Parameters<typeof registerWebSocket>[5];
}

export function createHttpApp(ctx: HttpContext, shards: ShardDispatcher, admin: AdminContext | null, metrics: Handler | null, ws: WsSettings): { app: TemplatedApp; channel: WsChannel } {
  requestLimits.urlBytes = ctx.maxUrlBytes;
  requestLimits.headerBytes = ctx.maxHeaderBytes;
  const app = uWS.App();
  const channel = registerWebSocket(app, ctx, shards, {
    addressKeyOf: (res, req) => (addressExempt(ctx, res, req) ? 0 : clientAddressKey(ctx, res, req)),
    userOf: (req, nowMs) => {
      const fromHeaders = authenticate(req, ctx, nowMs);
      if (fromHeaders !== 0) return { userId: fromHeaders, expiresMs: ctx.verifier.lastExpiresMs };
      const token = req.getQuery('token') ?? '';
      const userId = token === '' ? 0 : ctx.verifier.verify(token, nowMs);
      return { userId, expiresMs: userId === 0 ? 0 : ctx.verifier.lastExpiresMs };
    },
    countRequest: () => ctx.routeCounts[ROUTE_INDEX.ws]++,
    countAnswer: (outcome) => countRouteResponse('ws', outcome),
    sendError: (res, code) => asRoute(ROUTE_INDEX.ws, () => sendError(res, code)),
  }, ws, ws.onOpen);
  if (admin !== null) registerAdminRoutes(app, admin);
  itemRoutes(app, ctx);
  app.post('/api/buy/:id/:ticket', counted(ctx, 'buy', buyRoute(ctx, shards)));
  app.get('/api/orders/:orderId', counted(ctx, 'order', orderRoute(ctx, shards, OP.getOrder)));
  app.post('/api/orders/:orderId/pay', counted(ctx, 'pay', orderRoute(ctx, shards, OP.pay)));
  app.post('/api/orders/:orderId/cancel', counted(ctx, 'cancel', orderRoute(ctx, shards, OP.cancel)));
  if (metrics !== null) app.get('/metrics', counted(ctx, 'metrics', metrics));
  operationalRoutes(app, ctx);
  staticRoutes(app, ctx);
  return { app, channel };
}
