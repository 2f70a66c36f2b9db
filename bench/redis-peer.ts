// The conventional peer the engine is compared with: the same buy contract
// (POST /api/buy/:id/:ticket, the same bearer user tokens verified the same
// way, the same status codes and JSON bodies for won, sold_out and
// limit_reached, the same /ws buy frames) on uWebSockets.js in front of
// Redis, where one Lua script (bench/redis-buy-script.ts) does the per-user
// check, the stock decrement and the enqueue of the order.
//
// Built as well as such a design is usually built, so that the ratio says
// something about the design and not about a weak peer:
// - ioredis with enableAutoPipelining: every buy of one event-loop turn goes
//   to Redis in one write;
// - the script is loaded once (defineCommand: EVALSHA, EVAL only on NOSCRIPT);
// - tokens are checked by the engine's own verifier (engine/user-token.ts),
//   so token checking costs both systems the same;
// - with PEER_SOLD_OUT_MEMO=1 only (the "peer memo" rows), a sold-out item
//   is remembered in the process: in "order" mode stock never comes back,
//   so later buyers are refused without a Redis round trip, as the engine
//   refuses them from its published count. Off by default, because the
//   issue defines the peer as one script run per buy;
// - /api/items and /sale.js are rebuilt from Redis every 250 ms, the engine's
//   own staleness, not per request.
// Not given: durability. Redis runs without persistence (see
// bench/redis-server-process.ts), so an acknowledged order survives a crash
// of the peer but not of Redis; the engine's orders survive its own kill -9.
//
// Run as its own process: `node dist/bench/redis-peer.js` with
// PEER_REDIS_PORT, PEER_SALE_FILE and FLASH_USER_SECRET set (PEER_SOLD_OUT_MEMO optional). It listens on
// 127.0.0.1 port 0 and prints `{"port":N}` once listening; SIGTERM closes it.

import Redis from 'ioredis';
import { pack, unpack } from 'msgpackr';
import uWS from 'uWebSockets.js';
import { deriveTicket, ticketMatches } from '../engine/ticket';
import { UserTokenVerifier, extractToken, verifyRequestToken } from '../engine/user-token';
import { publicItemsBody, readSale, type SaleItem } from './bench-sale';
import { BUY_LIMIT_REACHED, BUY_SCRIPT, BUY_SOLD_OUT, heldKey, leftKey, ordersKey } from './redis-buy-script';

/** Remember sold-out items in the process (see above). */
const SOLD_OUT_MEMO = process.env.PEER_SOLD_OUT_MEMO === '1';
/** How often the public item list is rebuilt from Redis (the engine's own period). */
const ITEMS_REFRESH_MS = 250;
/** WebSocket bounds, as the house style asks of every server. */
const WS_PAYLOAD_BYTES_MAX = 1024;
const WS_BACKPRESSURE_BYTES_MAX = 64 * 1024;
const WS_IDLE_TIMEOUT_SECONDS = 120;

type BuyCommand = (left: string, held: string, orders: string, user: number, limit: number, stock: number,
  nowMs: number) => Promise<number>;

/** What every route needs: the items, their tickets, the Redis client. */
interface Peer {
  items: SaleItem[];
  byId: Map<string, number>;
  tickets: string[];
  soldOut: Uint8Array;
  redis: Redis & { flashBuy: BuyCommand };
  verifier: UserTokenVerifier;
}

type Outcome = { won: true; order: string; item: string } | { won: false; status: string; code: string };

const JSON_TYPE = 'application/json';
const refusal = (status: string, code: string): Outcome => ({ won: false, status, code });
const UNKNOWN_ITEM = refusal('404 Not Found', 'unknown_item');
const UNAUTHORIZED = refusal('401 Unauthorized', 'unauthorized');
const BAD_TICKET = refusal('403 Forbidden', 'bad_ticket');
const SOLD_OUT = refusal('409 Conflict', 'sold_out');
const LIMIT_REACHED = refusal('409 Conflict', 'limit_reached');
const ERROR_BODIES = new Map(['unknown_item', 'unauthorized', 'bad_ticket', 'sold_out', 'limit_reached', 'overloaded']
  .map((code) => [code, Buffer.from(`{"error":"${code}"}`)]));
const OVERLOADED = refusal('503 Service Unavailable', 'overloaded');

/** The checks before Redis; null when the buy goes to the script. */
function precheck(peer: Peer, index: number | undefined, ticket: string, user: number): Outcome | null {
  if (index === undefined) return UNKNOWN_ITEM;
  if (user === 0) return UNAUTHORIZED;
  if (!ticketMatches(ticket, peer.tickets[index]!)) return BAD_TICKET;
  if (SOLD_OUT_MEMO && peer.soldOut[index] === 1) return SOLD_OUT;
  return null;
}

async function decide(peer: Peer, index: number, user: number): Promise<Outcome> {
  const item = peer.items[index]!;
  const result = await peer.redis.flashBuy(leftKey(item.id), heldKey(item.id), ordersKey(item.id),
    user, item.perUserLimit, item.stock, Date.now());
  if (result === BUY_SOLD_OUT) {
    peer.soldOut[index] = 1;
    return SOLD_OUT;
  }
  if (result === BUY_LIMIT_REACHED) return LIMIT_REACHED;
  if (result < 1) return UNKNOWN_ITEM;
  // The engine's order id layout (row << 32 | sequence), so both write the same number of bytes.
  const order = String((index + 1) * 2 ** 32 + result);
  return { won: true, order, item: item.id };
}

function answerHttp(res: uWS.HttpResponse, outcome: Outcome): void {
  if (outcome.won) {
    res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE)
      .end(`{"result":"won","order":"${outcome.order}","item":"${outcome.item}","payBy":null}`);
  } else {
    res.writeStatus(outcome.status).writeHeader('content-type', JSON_TYPE).end(ERROR_BODIES.get(outcome.code)!);
  }
}

function buyRoute(peer: Peer): (res: uWS.HttpResponse, req: uWS.HttpRequest) => void {
  return (res, req) => {
    const index = peer.byId.get(req.getParameter(0) ?? '');
    const user = verifyRequestToken(peer.verifier, req.getHeader('authorization'), req, 'cookie', Date.now());
    const early = precheck(peer, index, req.getParameter(1) ?? '', user);
    if (early !== null) return answerHttp(res, early);
    let aborted = false;
    res.onAborted(() => (aborted = true));
    decide(peer, index!, user).then(
      (outcome) => !aborted && res.cork(() => answerHttp(res, outcome)),
      () => !aborted && res.cork(() => answerHttp(res, OVERLOADED)),
    );
  };
}

interface Socket { user: number; closed: boolean }

/** /ws: {op:"buy", id, item, ticket} -> {id, result:"won", order, item, payBy} or {id, error}. */
function wsBehavior(peer: Peer): uWS.WebSocketBehavior<Socket> {
  return {
    maxPayloadLength: WS_PAYLOAD_BYTES_MAX, maxBackpressure: WS_BACKPRESSURE_BYTES_MAX,
    idleTimeout: WS_IDLE_TIMEOUT_SECONDS,
    upgrade: (res, req, context) => {
      const token = req.getQuery('token') || extractToken(req.getHeader('authorization'), req.getHeader('cookie'));
      const user = peer.verifier.verify(token, Date.now());
      if (user === 0) return void res.writeStatus('401 Unauthorized').end(ERROR_BODIES.get('unauthorized')!);
      res.upgrade<Socket>({ user, closed: false }, req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    message: (ws, message) => {
      let frame: { op?: unknown; id?: unknown; item?: unknown; ticket?: unknown };
      try {
        frame = unpack(Buffer.from(message)) as typeof frame;
      } catch {
        return void ws.send(pack({ error: 'bad_request' }), true);
      }
      if (frame.op !== 'buy' || typeof frame.item !== 'string' || typeof frame.ticket !== 'string') {
        return void ws.send(pack({ id: frame.id, error: 'bad_request' }), true);
      }
      const { id } = frame;
      const state = ws.getUserData();
      const index = peer.byId.get(frame.item);
      const send = (outcome: Outcome): void => {
        if (state.closed) return;
        if (outcome.won) {
          ws.send(pack({ id, result: 'won', order: outcome.order, item: outcome.item, payBy: null }), true);
        } else {
          ws.send(pack({ id, error: outcome.code }), true);
        }
      };
      const early = precheck(peer, index, frame.ticket, state.user);
      if (early !== null) return send(early);
      decide(peer, index!, state.user).then(send, () => send(OVERLOADED));
    },
    close: (ws) => void (ws.getUserData().closed = true),
  };
}

/** The read routes; resolves once their bodies were first built, so buy paths exist before the peer listens. */
async function readRoutes(app: uWS.TemplatedApp, peer: Peer): Promise<void> {
  let items = Buffer.from('{"items":[]}');
  let script = Buffer.from('window.FLASH_SALE = {"items":[]};\n');
  const refresh = async (): Promise<void> => {
    const left = (await peer.redis.mget(peer.items.map((item) => leftKey(item.id)))).map(Number);
    items = Buffer.from(publicItemsBody(peer.items, left, null));
    script = Buffer.from(publicItemsBody(peer.items, left,
      peer.items.map((item, index) => `/api/buy/${item.id}/${peer.tickets[index]}`)));
  };
  setInterval(() => void refresh().catch(() => undefined), ITEMS_REFRESH_MS).unref();
  await refresh();
  app.get('/api/items', (res) => void res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE).end(items));
  app.get('/sale.js', (res) => void res.writeStatus('200 OK').writeHeader('content-type', 'text/javascript')
    .writeHeader('cache-control', 'no-store').end(script));
  app.get('/api/items/:id/ticket', (res, req) => {
    const index = peer.byId.get(req.getParameter(0) ?? '');
    if (index === undefined) return answerHttp(res, UNKNOWN_ITEM);
    res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE)
      .end(JSON.stringify({ buyPath: `/api/buy/${peer.items[index]!.id}/${peer.tickets[index]}` }));
  });
}

async function connect(items: SaleItem[]): Promise<Peer['redis']> {
  const redis = new Redis({
    host: '127.0.0.1', port: Number(process.env.PEER_REDIS_PORT), enableAutoPipelining: true, maxRetriesPerRequest: 1,
  }) as Peer['redis'];
  redis.defineCommand('flashBuy', { numberOfKeys: 3, lua: BUY_SCRIPT });
  // Stock goes in once, before the first buy, in pipelined batches.
  const batch = 10_000;
  for (let start = 0; start < items.length; start += batch) {
    const pipeline = redis.pipeline();
    for (const item of items.slice(start, start + batch)) pipeline.set(leftKey(item.id), item.stock);
    await pipeline.exec();
  }
  return redis;
}

async function main(): Promise<void> {
  const { items } = readSale(process.env.PEER_SALE_FILE ?? '');
  const ticketSecret = process.env.FLASH_USER_SECRET! + '.tickets';
  const peer: Peer = {
    items, byId: new Map(items.map((item, index) => [item.id, index])),
    tickets: items.map((item) => deriveTicket(ticketSecret, item.id, item.startsAt)),
    soldOut: new Uint8Array(items.length), redis: await connect(items),
    verifier: new UserTokenVerifier(process.env.FLASH_USER_SECRET!),
  };
  const app = uWS.App();
  app.post('/api/buy/:id/:ticket', buyRoute(peer));
  app.ws('/ws', wsBehavior(peer));
  await readRoutes(app, peer);
  app.any('/*', (res) =>
    void res.writeStatus('404 Not Found').writeHeader('content-type', JSON_TYPE).end('{"error":"not_found"}'));
  app.listen('127.0.0.1', 0, (listenSocket) => {
    if (!listenSocket) {
      process.stderr.write('redis-peer: cannot listen on 127.0.0.1\n');
      process.exit(1);
    }
    process.stdout.write(
      `${JSON.stringify({ port: uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket) })}\n`);
    const close = (): void => {
      uWS.us_listen_socket_close(listenSocket);
      void peer.redis.quit().finally(() => process.exit(0));
    };
    process.once('SIGTERM', close);
    process.once('SIGINT', close);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`redis-peer: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
