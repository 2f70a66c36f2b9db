// The baseline of the bench suite: the cheapest possible uWebSockets.js
// answer to each request a scenario sends, and nothing else: no token check,
// no shard, no log, no SQLite, no Redis.
//   POST /api/buy/:id/:ticket  a fixed 200 JSON body with the shape and
//                              length of the engine's "won" answer
//   /ws buy frames             a fixed MessagePack "won" frame with the id
//   GET /api/items, /sale.js   fixed bodies built once from the scenario's
//                              sale (BARE_SALE_FILE), the engine's shape
//   GET /api/items/:id/ticket  a buy path with a ticket of the engine's length
//   the start push             with BARE_START_AT (ms since the epoch), every
//                              socket on /ws gets the engine's `start` frame
//                              for item "drop" from a timer set for that
//                              time, by one publish, as the engine sends it
// What the engine reaches as a fraction of this server's requests per
// second, measured in the same run on the same machine with the same load
// generator, is the cost of everything the engine does; the rest is the
// HTTP stack and the generator itself.
//
// BARE_THREADS=N with BARE_PORT runs N such apps on N threads sharing the
// port (see main()), to show what spreading sockets over threads buys.
//
// Run as its own process: `node dist/bench/bare-server.js`. It listens on
// 127.0.0.1 port 0 and prints `{"port":N}` on stdout once listening;
// SIGTERM or SIGINT closes it and exits 0.

import { pack, unpack } from 'msgpackr';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import uWS from 'uWebSockets.js';
import { TICKET_CHARS } from '../engine/constants';
import { publicItemsBody, readSale, type SaleItem } from './bench-sale';

// The engine's won answer for item "hot" with its first order id
// (row 1 << 32 | sequence 1), so that both servers write the same bytes.
const WON_BODY = Buffer.from('{"result":"won","order":"4294967297","item":"hot","payBy":null}');
const NOT_FOUND_BODY = Buffer.from('{"error":"not_found"}');
const JSON_TYPE = 'application/json';
const BARE_TICKET = 't'.repeat(TICKET_CHARS);
const START_TOPIC = 'start';

function readRoutes(app: uWS.TemplatedApp, items: readonly SaleItem[]): void {
  const left = items.map((item) => item.stock);
  const itemsBody = Buffer.from(publicItemsBody(items, left, null));
  const scriptBody = Buffer.from(publicItemsBody(items, left,
    items.map((item) => `/api/buy/${item.id}/${BARE_TICKET}`)));
  app.get('/api/items', (res) => void res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE).end(itemsBody));
  app.get('/sale.js', (res) => void res.writeStatus('200 OK').writeHeader('content-type', 'text/javascript')
    .writeHeader('cache-control', 'no-store').end(scriptBody));
  app.get('/api/items/:id/ticket', (res, req) => {
    res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE)
      .end(`{"buyPath":"/api/buy/${req.getParameter(0)}/${BARE_TICKET}"}`);
  });
}

/** The whole server on one uWebSockets.js app: the calling thread's. */
function buildApp(): uWS.TemplatedApp {
  const items = process.env.BARE_SALE_FILE ? readSale(process.env.BARE_SALE_FILE).items : [];
  const app = uWS.App();
  // A buy carries an empty body (content-length 0), so the answer can be written at once.
  app.post('/api/buy/:id/:ticket', (res) => {
    res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE).end(WON_BODY);
  });
  const startAt = Number(process.env.BARE_START_AT ?? 0);
  app.ws('/ws', {
    maxPayloadLength: 1024, maxBackpressure: 64 * 1024, idleTimeout: 120,
    open: (ws) => void ws.subscribe(START_TOPIC),
    message: (ws, message) => {
      const frame = unpack(Buffer.from(message)) as { id?: unknown };
      ws.send(pack({ id: frame.id, result: 'won', order: '4294967297', item: 'hot', payBy: null }), true);
    },
  });
  readRoutes(app, items);
  if (startAt > 0) {
    // Each thread's timer publishes to the sockets its own app holds.
    const frame = pack({ op: 'start', item: 'drop', buyPath: `/api/buy/drop/${BARE_TICKET}` });
    setTimeout(() => app.publish(START_TOPIC, frame, true), Math.max(0, startAt - Date.now()));
  }
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', JSON_TYPE).end(NOT_FOUND_BODY);
  });
  return app;
}

/**
 * Closes the app's every socket, listening or connected (uWebSockets.js has
 * the call; its typings lack it). A worker thread torn down while its event
 * loop still holds sockets aborts the whole process (uv_loop_close with open
 * handles), so each thread closes its app before the process exits.
 */
function closeApp(app: uWS.TemplatedApp): void {
  (app as uWS.TemplatedApp & { close(): void }).close();
}

/** Longest the main thread waits for the other threads to close their sockets on SIGTERM. */
const THREAD_CLOSE_TIMEOUT_MS = 2_000;

function listenOrExit(app: uWS.TemplatedApp, port: number,
  listening: (listenSocket: uWS.us_listen_socket) => void): void {
  app.listen('127.0.0.1', port, (listenSocket) => {
    if (!listenSocket) {
      process.stderr.write(`bare-server: cannot listen on 127.0.0.1:${port}\n`);
      process.exit(1);
    }
    listening(listenSocket);
  });
}

/**
 * BARE_THREADS=N (default 1) runs N apps, one per thread, all listening on
 * BARE_PORT with SO_REUSEPORT (uSockets sets it; the kernel spreads new
 * connections over them). A port the kernel picks (0) cannot be shared, so
 * N > 1 needs BARE_PORT, best below the ephemeral range (32768 up).
 */
function main(): void {
  const threads = Number(process.env.BARE_THREADS ?? 1);
  const fixedPort = Number(process.env.BARE_PORT ?? 0);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new Error(`BARE_THREADS: ${process.env.BARE_THREADS} is not 1 to 64`);
  }
  if (threads > 1 && fixedPort === 0) throw new Error('BARE_THREADS > 1 needs BARE_PORT: the threads share one port');
  if (!isMainThread) {
    const app = buildApp();
    listenOrExit(app, fixedPort, () => parentPort!.postMessage('listening'));
    parentPort!.once('message', () => {
      closeApp(app);
      parentPort!.postMessage('closed');
    });
    return;
  }
  const app = buildApp();
  listenOrExit(app, fixedPort, (listenSocket) => {
    const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
    const workers = Array.from({ length: threads - 1 }, () => new Worker(__filename));
    const others = workers.map((worker) => new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    }));
    void Promise.all(others).then(() => process.stdout.write(`${JSON.stringify({ port })}\n`), (error: Error) => {
      process.stderr.write(`bare-server: a thread failed: ${error.message}\n`);
      process.exit(1);
    });
    const closed = (worker: Worker): Promise<void> => new Promise((resolve) => {
      worker.once('message', () => resolve());
      worker.postMessage('close');
    });
    const close = (): void => {
      uWS.us_listen_socket_close(listenSocket);
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, THREAD_CLOSE_TIMEOUT_MS).unref());
      void Promise.race([Promise.all(workers.map(closed)), timeout]).then(() => {
        closeApp(app);
        process.exit(0);
      });
    };
    process.once('SIGTERM', close);
    process.once('SIGINT', close);
  });
}

main();
