// How soon the WebSocket `start` push reaches every connected shopper:
// starts the engine with one item due a few seconds later, connects N
// WebSocket clients (default 10,000) spread over client threads, and
// records when each receives its first frame after the upgrade (the start
// push: nothing else is sent to an idle socket before the start). Reports
// the delay after startsAt at p50/p90/p99/max, over several runs, and the
// engine's own delay from its "start pushed" log line. The baseline, run
// alternately with the engine: the bare uWebSockets.js server
// (bench/bare-server.ts BARE_START_AT), whose only work is one timer and
// one publish of a frame of the same size to the same clients, on as many
// threads as the engine has HTTP threads (--http-threads N: the engine with
// --http-threads N and --workers 1, bare with BARE_THREADS=N, sharing the
// port through SO_REUSEPORT; bench/http-threads.ts). The last line is the
// median over runs of each run's engine p99 over bare p99 (issue 13's
// target: 1.1 or less).
//
//   node dist/bench/ws-start-push.js [--clients 10000] [--runs 3] [--http-threads N]
//                                    [--client-threads 4] [--bare-threads M]
//
// --client-threads (formerly --threads, still accepted) is the number of
// client threads opening the sockets; it is not the server's. A third
// system shows what spreading the sockets over more threads would buy: the
// bare server on --bare-threads apps (default: the cores), left out when
// that is 1 or equal to --http-threads.
//
// The clients are raw sockets with a hand-made upgrade: a full WebSocket
// client per socket would measure the client more than the engine. On
// loopback each of the engine's sends also runs the receiving TCP stack on
// the sending core (about 10 µs a send on 2 cores here), and the client
// threads share the cores with the engine: both are in the tail.

import { setTimeout as sleep } from 'node:timers/promises';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { median as medianOf } from './result-summary';
import { bareThreadEnv, engineThreadArgs, httpThreadsFlag } from './http-threads';
import { startServer, type ServerProcess } from './server-process';
import { numberFlag } from './suite-flags';

const ROOT = path.resolve(__dirname, '..', '..');
const USER_SECRET = 'ws-start-bench-user-secret-0123456789abcdef';

interface ClientJob {
  port: number;
  count: number;
}

/** Client thread: opens `count` upgraded sockets, reports ready, then the arrival time of each one's first frame. */
async function clientThread(job: ClientJob): Promise<void> {
  const arrivals: number[] = [];
  const sockets: net.Socket[] = [];
  const open = (): Promise<void> => new Promise((resolve, reject) => {
    const socket = net.connect(job.port, '127.0.0.1');
    let upgraded = false;
    socket.setNoDelay(true);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      if (!upgraded) {
        if (!chunk.toString('latin1').startsWith('HTTP/1.1 101')) {
          return reject(new Error(`upgrade refused: ${chunk.toString('latin1').slice(0, 40)}`));
        }
        upgraded = true;
        resolve();
        return;
      }
      if (arrivals.length < job.count && !(socket as unknown as { seen?: boolean }).seen) {
        (socket as unknown as { seen?: boolean }).seen = true;
        arrivals.push(Date.now());
        if (arrivals.length === job.count) parentPort!.postMessage({ type: 'arrivals', arrivals });
      }
    });
    socket.write(`GET /ws HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
      `sec-websocket-key: ${crypto.randomBytes(16).toString('base64')}\r\nsec-websocket-version: 13\r\n\r\n`);
    sockets.push(socket);
  });
  for (let i = 0; i < job.count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, job.count - i) }, open));
  }
  parentPort!.postMessage({ type: 'ready' });
  parentPort!.on('message', () => {
    // Report what arrived (a run that lost some must say so), then close.
    parentPort!.postMessage({ type: 'arrivals', arrivals });
    sockets.forEach((s) => s.destroy());
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

type System = 'engine' | 'bare' | 'bare threads';

/** HTTP threads of the engine and of the bare baseline (--http-threads), and of the extra bare system. */
interface Threads { http: number; bare: number }

async function startSystem(system: System, dataDir: string, startsAt: number, clients: number,
  threads: Threads): Promise<ServerProcess> {
  if (system !== 'engine') {
    const env = await bareThreadEnv(system === 'bare' ? threads.http : threads.bare);
    return startServer({
      args: [path.join(__dirname, 'bare-server.js')],
      env: { ...process.env, BARE_START_AT: String(startsAt), ...env }, cwd: ROOT,
    }, (line) => (typeof line.port === 'number' ? line.port : null));
  }
  const saleFile = path.join(dataDir, 'sale.json');
  fs.writeFileSync(saleFile, JSON.stringify({
    items: [{ id: 'drop', name: 'Drop', price: 100, stock: 10, startsAt, endsAt: startsAt + 3_600_000 }],
  }));
  return startServer({
    args: ['engine/start', '--data', dataDir, '--sale', saleFile, ...await engineThreadArgs(ROOT, threads.http, 0)],
    env: {
      ...process.env, FLASH_USER_SECRET: USER_SECRET, FLASH_WS_MAX_CONNECTIONS: String(clients + 100),
      FLASH_WS_MAX_PER_ADDRESS: '0',
    },
    cwd: ROOT,
  }, (line) => (line.msg === 'listening' ? (line.port as number) : null));
}

async function oneRun(system: System, clients: number, clientThreads: number, leadMs: number,
  threads: Threads): Promise<Record<string, number>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-ws-start-'));
  const startsAt = Date.now() + leadMs;
  const engine = await startSystem(system, dataDir, startsAt, clients, threads);
  const workers: Worker[] = [];
  try {
    const perThread = Math.ceil(clients / clientThreads);
    const ready: Promise<void>[] = [];
    const arrivals: Promise<number[]>[] = [];
    for (let t = 0; t < clientThreads; t++) {
      const count = Math.min(perThread, clients - t * perThread);
      const worker = new Worker(__filename, { workerData: { port: engine.port, count } satisfies ClientJob });
      workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', (m: { type: string }) => m.type === 'ready' && resolve());
      }));
      arrivals.push(new Promise((resolve) => worker.on('message', (m: { type: string; arrivals?: number[] }) =>
        m.type === 'arrivals' && resolve(m.arrivals!))));
    }
    await Promise.all(ready);
    const connectedAt = Date.now();
    if (connectedAt > startsAt - 200) {
      throw new Error(`connecting ${clients} clients took too long (${connectedAt - (startsAt - leadMs)} ms); ` +
        `raise the lead time`);
    }
    // Wait past the start, then collect (a thread whose clients all heard it has already reported).
    await sleep(startsAt - Date.now() + 2000);
    workers.forEach((w) => w.postMessage('report'));
    const all = (await Promise.all(arrivals)).flat().map((at) => at - startsAt).sort((a, b) => a - b);
    const pushed = engine.lines.find((l) => l.msg === 'start pushed');
    return {
      clients, reached: all.length, engineDelayMs: Number(pushed?.delayMs ?? NaN),
      enginePublishMs: Number(pushed?.publishMs ?? NaN), p50: quantile(all, 0.5), p90: quantile(all, 0.9),
      p99: quantile(all, 0.99), max: all.at(-1) ?? NaN, min: all[0] ?? NaN,
      within50ms: all.filter((d) => d >= 0 && d <= 50).length,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    await engine.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number): number => numberFlag(process.argv, name, fallback);
  const clients = arg('clients', 10_000);
  const runs = arg('runs', 3);
  const clientThreads = arg('client-threads', arg('threads', 4));
  const threads: Threads = {
    http: httpThreadsFlag(process.argv), bare: arg('bare-threads', os.availableParallelism()),
  };
  const withBareThreads = threads.bare > 1 && threads.bare !== threads.http;
  const results = new Map<System, Record<string, number>[]>([
    ['bare', []], ['engine', []],
    ...(withBareThreads ? [['bare threads', []] as [System, Record<string, number>[]]] : []),
  ]);
  const names = new Map<System, string>([
    ['engine', `engine on ${threads.http} HTTP thread(s)`], ['bare', `bare on ${threads.http} thread(s)`],
    ['bare threads', `bare on ${threads.bare} threads`],
  ]);
  // Alternating, so that both see the same stretch of a noisy machine.
  for (let run = 0; run < runs; run++) {
    for (const [system, list] of results) {
      const result = await oneRun(system, clients, clientThreads, arg('lead-ms', 8000), threads);
      list.push(result);
      process.stdout.write(`${names.get(system)!} run ${run + 1}: ${JSON.stringify(result)}\n`);
    }
  }
  for (const [system, list] of results) {
    const median = (key: string): number => medianOf(list.map((r) => r[key]!));
    const engineSide = system === 'engine'
      ? `engine pushed after ${median('engineDelayMs')} ms and its publish call returned in ` +
        `${median('enginePublishMs')} ms, `
      : '';
    process.stdout.write(`${names.get(system)!}, median of ${runs} runs, ${clients} clients ` +
      `on ${os.cpus()[0]?.model} x${os.availableParallelism()}: ` +
      `reached ${median('reached')}, ${engineSide}arrival p50 ${median('p50')} ms, p90 ${median('p90')} ms, ` +
      `p99 ${median('p99')} ms, max ${median('max')} ms, within 50 ms: ${median('within50ms')}\n`);
  }
  const engine = results.get('engine')!;
  // A p99 of 0 ms (a handful of clients) has no ratio.
  const perRun = results.get('bare')!.map((bare, run) => (bare.p99! > 0 ? engine[run]!.p99! / bare.p99! : NaN));
  process.stdout.write(`engine p99 / bare p99, both on ${threads.http} thread(s): median of ${runs} runs' ratios ` +
    `${medianOf(perRun).toFixed(2)} (runs: ${perRun.map((r) => r.toFixed(2)).join(', ')}; target 1.1 or less)\n`);
}

if (isMainThread) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  });
} else {
  void clientThread(workerData as ClientJob);
}
