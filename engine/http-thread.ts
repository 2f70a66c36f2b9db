// An HTTP thread other than the main one (--http-threads N starts N - 1 of
// them): a uWebSockets.js app listening on the engine's port beside the
// main thread's (SO_REUSEPORT: the kernel spreads connections over the
// threads), serving the whole shopper path with its own catalog, token
// verifier and WebSocket pushes, and reaching every shard through rings of
// its own (ring-producer.ts). Per-user and per-address state lives in the
// tables every thread shares. The admin API and /metrics are relayed to the
// main thread (admin-relay.ts).
//
// Messages from the main thread: `change` (an admin change to apply and
// acknowledge, catalog-changes.ts), `shardDied` (refuse what waits on that
// shard), `stop` (stop accepting, answer what is in flight, say `stopped`).
// The thread then closes its sockets and stays until the process exits.

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import uWS, { type TemplatedApp } from 'uWebSockets.js';
import type { RelayTarget } from './admin-relay';
import { applyReplicated, type CatalogChange } from './catalog-changes';
import { createCatalog, createHttpContext, createThreadApp, type HttpThreadSetup } from './http-thread-setup';
import { RingProducer } from './ring-producer';
import { ShardAnswerer } from './shard-answerer';
import type { RequestDispatcher } from './shard-dispatcher';

/** What the main thread hands an HTTP thread besides the common setup. */
export interface HttpThreadData extends HttpThreadSetup {
  /** The port the main thread listens on (the real one, when --port 0 picked it). */
  port: number;
  relay: RelayTarget;
}

/**
 * Fault injection: `FLASH_FAULT_HTTP_THREAD_THROW=N` makes HTTP thread 1
 * throw right after its Nth request to a shard, outside the request
 * handler, as a bug in a timer or an answer callback would.
 */
export const HTTP_FAULT_ENV = 'FLASH_FAULT_HTTP_THREAD_THROW';

/** The dispatcher, or one that throws on its Nth request when the fault injection asks (tests only). */
function withFault(producer: RingProducer, index: number, value = process.env[HTTP_FAULT_ENV]): RequestDispatcher {
  const countdown = index === 1 && value !== undefined ? Number(value) : 0;
  if (!(countdown > 0)) return producer;
  let left = countdown;
  return {
    dispatch(...request: Parameters<RingProducer['dispatch']>): void {
      producer.dispatch(...request);
      if (--left === 0) {
        queueMicrotask(() => {
          throw new Error(`${HTTP_FAULT_ENV}: HTTP thread ${index} throws on purpose`);
        });
      }
    },
  };
}

export type HttpThreadMessage =
  | { type: 'change'; change: CatalogChange }
  | { type: 'shardDied'; index: number }
  | { type: 'stop' };

/** Closes the app's every socket, listening or connected: uWebSockets.js has the call, its typings lack it. */
function closeApp(app: TemplatedApp): void {
  (app as TemplatedApp & { close(): void }).close();
}

function run(): void {
  const port = parentPort;
  assert.ok(port, 'http-thread runs only as a worker thread');
  const setup = workerData as HttpThreadData;
  const { config, shared } = setup;
  const log = pino({ level: config.logLevel, base: { pid: process.pid, thread: `http-${setup.index}` },
    timestamp: pino.stdTimeFunctions.isoTime });
  const catalog = createCatalog(setup);
  const ctx = createHttpContext(setup, catalog, () => Atomics.load(shared.threadDown, 0) === 0);
  const producer = new RingProducer(shared.rings, setup.index, new ShardAnswerer(catalog, ctx.latency), ctx.inFlight,
    ctx.keys);
  producer.start();
  const { app, pushes } = createThreadApp(setup, ctx, withFault(producer, setup.index), { relay: setup.relay }, log);
  let listenSocket: uWS.us_listen_socket | null = null;
  // An error no handler caught ends the thread, and the main thread stops the
  // engine (http-threads.ts). Its sockets are closed first: a worker torn
  // down with open sockets aborts the whole process, taking the other
  // threads' answers and the orderly stop with it. (An exception inside a
  // request handler is uWebSockets.js's to handle: it ends the process, on
  // any thread; the log keeps every acknowledged order.)
  const die = (error: unknown): void => {
    log.fatal({ err: error }, 'HTTP thread failed');
    closeApp(app);
    process.exit(1);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
  port.on('message', (message: HttpThreadMessage) => {
    if (message.type === 'change') applyReplicated(catalog, ctx.bans, message.change, shared.changeAcks);
    else if (message.type === 'shardDied') producer.shardDied(message.index);
    else {
      ctx.closing = true;
      if (listenSocket !== null) uWS.us_listen_socket_close(listenSocket);
      listenSocket = null;
      pushes.stop();
      ctx.lag.stop();
      void producer.close().then(() => {
        // Every answer is written; the thread's sockets are closed before the
        // process exits, since a worker whose event loop still holds sockets
        // when it is torn down aborts the process.
        closeApp(app);
        port.postMessage({ type: 'stopped' });
      });
    }
  });
  app.listen(config.host, setup.port, (socket) => {
    if (!socket) throw new Error(`http-${setup.index}: cannot listen on ${config.host}:${setup.port}`);
    listenSocket = socket;
    ctx.lag.start();
    port.postMessage({ type: 'ready' });
  });
}

// engine.ts imports this module for its constants: only a worker runs the thread.
if (!isMainThread) run();
