// A small, bounded WebSocket load generator for the /ws scenario (autocannon
// speaks only HTTP): `connections` sockets, each authenticated as its own
// user, each sending buy frames {op:"buy", id, item, ticket} as MessagePack
// and sending the next as soon as the answer {id, result} or {id, error}
// arrives (closed loop, one frame in flight per socket, like autocannon's
// pipelining 1). Pushes the server sends unasked ({op:"stock"}, ...) are
// counted and otherwise ignored. After `durationSeconds` it stops sending,
// waits a bounded time for answers in flight, and closes every socket.
//
// When the upgrade is refused (the server has no /ws yet) it reports the
// phase as skipped with the reason instead of failing the whole suite.

import { setTimeout as sleep } from 'node:timers/promises';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';
import { LatencyRecorder } from './latency-recorder';
import type { LoadResult } from './load-generator';

/** Longest to wait for all sockets to open, and for answers in flight after the end. */
const OPEN_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 5_000;

export interface WsLoadOptions {
  port: number;
  /** One token per socket. */
  tokens: readonly string[];
  item: string;
  ticket: string;
  durationSeconds: number;
}

export type WsLoadOutcome = { skipped: string } | { result: LoadResult };

class UpgradeRefused extends Error {}

function openSocket(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no WebSocket open within ${OPEN_TIMEOUT_MS} ms`));
    }, OPEN_TIMEOUT_MS);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      socket.terminate();
      reject(new UpgradeRefused(`the upgrade of /ws was answered ${response.statusCode}`));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

interface Counters { sent: number; answered: number; pushes: number; errors: number; byOutcome: Record<string, number> }

/** Drives one socket until `running()` is false; resolves when its last frame is answered or the socket closes. */
function drive(socket: WebSocket, options: WsLoadOptions, running: () => boolean, counters: Counters,
  latency: LatencyRecorder): Promise<void> {
  let sequence = 0;
  let sentAt = 0;
  const send = (): void => {
    sequence += 1;
    sentAt = performance.now();
    counters.sent += 1;
    socket.send(pack({ op: 'buy', id: sequence, item: options.item, ticket: options.ticket }));
  };
  return new Promise((resolve) => {
    socket.on('message', (data: Buffer) => {
      let frame: { id?: unknown; op?: unknown; result?: unknown; error?: unknown };
      try {
        frame = unpack(data) as typeof frame;
      } catch {
        counters.errors += 1;
        return;
      }
      if (frame.op !== undefined) return void (counters.pushes += 1);
      if (frame.id !== sequence) return void (counters.errors += 1);
      latency.record(performance.now() - sentAt);
      counters.answered += 1;
      const outcome = typeof frame.result === 'string' ? frame.result : String(frame.error);
      counters.byOutcome[outcome] = (counters.byOutcome[outcome] ?? 0) + 1;
      if (running()) send();
      else resolve();
    });
    socket.once('close', () => resolve());
    socket.once('error', () => void (counters.errors += 1));
    send();
  });
}

export async function runWsLoad(options: WsLoadOptions): Promise<WsLoadOutcome> {
  const url = `ws://127.0.0.1:${options.port}/ws`;
  let sockets: WebSocket[];
  try {
    sockets = await Promise.all(options.tokens.map((token) => openSocket(url, token)));
  } catch (error) {
    if (error instanceof UpgradeRefused) return { skipped: error.message };
    throw error;
  }
  const counters: Counters = { sent: 0, answered: 0, pushes: 0, errors: 0, byOutcome: {} };
  const latency = new LatencyRecorder();
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const deadline = wallBefore + options.durationSeconds * 1000;
  const running = (): boolean => performance.now() < deadline;
  const drained = Promise.all(sockets.map((socket) => drive(socket, options, running, counters, latency)));
  await Promise.race([drained, sleep(options.durationSeconds * 1000 + DRAIN_TIMEOUT_MS)]);
  const wallMs = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  for (const socket of sockets) socket.terminate();
  const percentiles = latency.percentiles();
  const generatorCpuMs = (cpu.user + cpu.system) / 1000;
  const won = counters.byOutcome.won ?? 0;
  return {
    result: {
      durationSeconds: wallMs / 1000,
      requestsPerSecondMean: counters.answered / (wallMs / 1000),
      requestsCompleted: counters.answered,
      latencyP50Ms: percentiles.p50Ms, latencyP90Ms: percentiles.p90Ms, latencyP99Ms: percentiles.p99Ms,
      latencyP999Ms: percentiles.p999Ms,
      latencyMeanMs: 0, latencyMaxMs: percentiles.maxMs,
      non2xx: counters.answered - won,
      errors: counters.errors,
      // A frame sent and never answered within the drain time.
      timeouts: counters.sent - counters.answered,
      resets: 0,
      // "200" counts wins, as for HTTP, so the invariant check reads both alike.
      statusCounts: {
        ...Object.fromEntries(Object.entries(counters.byOutcome).filter(([key]) => key !== 'won')),
        '200': won,
      },
      latencyWon: null, latencyRefused: null,
      generatorCpuMs, generatorCpuShare: generatorCpuMs / wallMs, generatorThreads: 1, overran: false,
    },
  };
}
