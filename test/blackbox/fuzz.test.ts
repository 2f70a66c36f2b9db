// Fuzzes the running engine with at least 100,000 inputs from a seeded
// corpus (test/helpers/fuzz-corpus.ts; FUZZ_SEED=<n> reproduces a run):
// real requests of every route, mutated; raw byte streams; and MessagePack
// frames on /ws. The engine must never crash, never answer a 5xx other than
// 503, answer every well-framed request in time, keep its memory bounded,
// and afterwards stop cleanly with stock and orders consistent (reconcile).
//
// One request at a time per connection: uWebSockets.js closes a connection
// that pipelines a request while a buy's answer is pending, so pipelining
// would only test that.

import fs from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { connectWs } from '../helpers/ws-client';
import { httpRequest, int, rawStream, wsFrame, type FuzzContext } from '../helpers/fuzz-corpus';
import { mulberry32, type Rand } from '../helpers/seeded-random';
import {
  ADMIN_TOKEN, buyPathOf, item, modesNamed, request, signToken, startEngine, tempDataDir,
} from '../helpers/engine-process';
import { runScript } from '../helpers/script-process';

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const HTTP_INPUTS = Number(process.env.FUZZ_HTTP ?? 90_000);
const WS_FRAMES = Number(process.env.FUZZ_WS ?? 12_000);
const HTTP_WORKERS = 24;
const WS_WORKERS = 4;
const ANSWER_DEADLINE_MS = 5_000;
const UNFRAMED_DEADLINE_MS = 150;

interface Stats {
  statuses: Map<number, number>;
  raw: number;
  wsFrames: number;
  wsAnswers: number;
  closedByEngine: number;
  badStatuses: string[];
  stalls: string[];
}

interface Exchange {
  status: number | null;
  closed: boolean;
  timedOut: boolean;
}

/** A keep-alive connection that sends one request and reads exactly its answer. */
class Connection {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new Connection(socket)));
      socket.on('error', () => resolve(new Connection(socket)));
    });
  }

  /** The status of a complete answer in the buffer and its length, or null while incomplete. */
  private complete(head: boolean): { status: number; length: number } | null {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const text = this.buffer.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    if (status >= 100 && status < 200) {
      // An interim answer (100 Continue): the final one follows.
      this.buffer = this.buffer.subarray(end + 4);
      return this.complete(head);
    }
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? -1);
    if (/\r\ntransfer-encoding: *chunked/i.test(text)) {
      const last = this.buffer.indexOf('\r\n0\r\n\r\n', end);
      return last === -1 ? null : { status, length: last + 7 };
    }
    const bodyLength = head || status === 304 || status < 200 ? 0 : Math.max(0, length);
    return this.buffer.length >= end + 4 + bodyLength ? { status, length: end + 4 + bodyLength } : null;
  }

  exchange(bytes: Buffer, head: boolean, deadlineMs: number): Promise<Exchange> {
    this.socket.write(bytes);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish({ status: null, closed: false, timedOut: true }), deadlineMs);
      const finish = (result: Exchange): void => {
        clearTimeout(timer);
        this.waiter = null;
        resolve(result);
      };
      this.waiter = () => {
        const answer = this.complete(head);
        if (answer !== null) {
          this.buffer = this.buffer.subarray(answer.length);
          finish({ status: answer.status, closed: false, timedOut: false });
        } else if (this.closed) {
          // A status line that came before the close still counts.
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(this.buffer.toString('latin1'))?.[1] ?? 0);
          finish({ status: status || null, closed: true, timedOut: false });
        }
      };
      this.waiter();
    });
  }
}

function record(stats: Stats, status: number, what: () => string): void {
  stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
  if (status === 0 && process.env.FUZZ_DEBUG) console.error('unparsed answer to', JSON.stringify(what()));
  if (status >= 500 && status !== 503 && stats.badStatuses.length < 20) stats.badStatuses.push(`${status}: ${what()}`);
}

async function httpWorker(port: number, rand: Rand, ctx: FuzzContext, count: number, stats: Stats): Promise<void> {
  let conn: Connection | null = null;
  for (let i = 0; i < count; i++) {
    if (int(rand, 25) === 0) {
      // A raw byte stream on its own connection, read for a moment.
      const raw = await Connection.open(port);
      const bytes = rawStream(rand);
      const answer = await raw.exchange(bytes, false, UNFRAMED_DEADLINE_MS);
      if (answer.status !== null) record(stats, answer.status, () => `raw ${bytes.subarray(0, 40).toString('hex')}`);
      raw.socket.destroy();
      stats.raw++;
      continue;
    }
    const req = httpRequest(rand, ctx);
    const framed = req.framed && req.bytes.length < 16_000;
    if (conn === null || conn.closed) conn = await Connection.open(port);
    // A request a parser may not frame can leave the engine waiting for more
    // bytes, which is right: it gets a short wait, then its connection goes.
    let answer = await conn.exchange(req.bytes, req.head, framed ? ANSWER_DEADLINE_MS : UNFRAMED_DEADLINE_MS);
    if (answer.status === null && answer.closed && framed) {
      // The engine may close a connection after answering (a body it did not
      // read, a 413): a close that raced the next request is not a refusal
      // of it. Once more on a fresh connection; a second close is a failure.
      conn.socket.destroy();
      conn = await Connection.open(port);
      answer = await conn.exchange(req.bytes, req.head, ANSWER_DEADLINE_MS);
    }
    if (answer.status !== null) record(stats, answer.status, () => req.bytes.subarray(0, 120).toString('latin1'));
    else if (answer.closed) stats.closedByEngine++;
    if (answer.status === null && framed && stats.stalls.length < 20) {
      stats.stalls.push(`${answer.timedOut ? 'no answer in time' : 'closed without an answer'}: ` +
        `${JSON.stringify(req.bytes.subarray(0, 160).toString('latin1'))}`);
    }
    if (answer.status === null || answer.status === 0 || answer.closed || !framed) {
      conn.socket.destroy();
      conn = null;
    }
  }
  conn?.socket.destroy();
}

async function wsWorker(port: number, rand: Rand, ctx: FuzzContext, count: number, stats: Stats): Promise<void> {
  // Valid tokens only: a bad one is refused at the upgrade (websocket.test.ts shows it), and frames are what this
  // fuzzes.
  const connect = () => connectWs(port, { token: ctx.tokens[int(rand, 300)] });
  let client = await connect();
  for (let i = 0; i < count; i++) {
    const frame = wsFrame(rand, ctx);
    const before = client.frames.length;
    client.ws.send(frame);
    stats.wsFrames++;
    // Every frame gets one answer, unless the engine closed the connection (garbage, or over 1 KiB).
    const outcome = await Promise.race([
      client.next((_, ) => client.frames.length > before, ANSWER_DEADLINE_MS).then(() => 'answer', () => 'timeout'),
      client.closed.then(() => 'closed'),
    ]);
    if (outcome === 'answer') stats.wsAnswers++;
    else if (outcome === 'timeout'
      && stats.stalls.length < 20) stats.stalls.push(`ws frame without an answer: ${frame.toString('hex')}`);
    if (outcome !== 'answer') {
      client.close();
      client = await connect();
    }
  }
  client.close();
}

// A run takes about 110 s on a 2-core machine, so the fuzz runs under the two ends of the
// layouts only: the inline shard, and shard workers fed by two HTTP threads
// (which also covers what one HTTP thread feeding the workers does).
const FUZZ_MODES = modesNamed('--workers 0', '--workers 2 --http-threads 2');

/** The process's resident memory in MiB; 0 once it has exited (the crash is reported on its own). */
function rssMiB(pid: number): number {
  if (!fs.existsSync(`/proc/${pid}/status`)) return 0;
  const resident = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return resident === null ? 0 : Number(resident[1]) / 1024; // no VmRSS: an exited process not yet reaped
}

for (const mode of FUZZ_MODES) {
  t.test(`fuzz with ${mode.name}: ${HTTP_INPUTS + WS_FRAMES} inputs, seed ${SEED}`, async (t) => {
    const dataDir = tempDataDir('fuzz');
    const engine = await startEngine({
      dataDir, args: [...mode.args], env: { FLASH_ADMIN_TOKEN: ADMIN_TOKEN },
      sale: [item('f1', { stock: 500, perUserLimit: 2 }),
        item('f2', { stock: 50, perUserLimit: 1, mode: 'reserve', payWindowSec: 5 }),
        item('f3', { stock: 20, challenge: true }), item('later', { startsAt: Date.now() + 3_600_000 })],
    });
    let crashed = false;
    void engine.exited.then(() => (crashed = true));
    const ctx: FuzzContext = {
      buyPaths: [await buyPathOf(engine.port, 'f1'), await buyPathOf(engine.port, 'f2'),
        await buyPathOf(engine.port, 'f3'), '/api/buy/later/AAAAAAAAAAAAAAAAAAAAAA'],
      items: ['f1', 'f2', 'f3', 'later', 'nope'],
      tokens: [...Array.from({ length: 300 }, (_, i) => signToken(i + 1)),
        signToken(5, 'wrong-secret-wrong-secret-wrong-secret'), signToken(6, undefined, 1), 'v1.x.y.z', ''],
      adminToken: ADMIN_TOKEN,
    };
    const stats: Stats = { statuses: new Map(), raw: 0, wsFrames: 0, wsAnswers: 0, closedByEngine: 0, badStatuses: [],
      stalls: [] };
    const started = Date.now();
    const rssStart = rssMiB(engine.proc.pid!);
    let rssPeak = rssStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(engine.proc.pid!))), 250);
    // A worker's failure (a socket error when the engine died under it) ends
    // the run; the checks below then say what happened, with the engine's stderr.
    const failure = await Promise.all([
      ...Array.from({ length: HTTP_WORKERS }, (_, w) =>
        httpWorker(engine.port, mulberry32(SEED + w), ctx, HTTP_INPUTS / HTTP_WORKERS, stats)),
      ...Array.from({ length: WS_WORKERS }, (_, w) =>
        wsWorker(engine.port, mulberry32(SEED + 1000 + w), ctx, WS_FRAMES / WS_WORKERS, stats)),
    ]).then(() => null, (error: Error) => error);
    clearInterval(sampler);
    const rssEnd = rssMiB(engine.proc.pid!);
    const seconds = (Date.now() - started) / 1000;
    t.comment(`seed ${SEED}: ${HTTP_INPUTS} HTTP inputs (${stats.raw} raw streams), ` +
      `${stats.wsFrames} ws frames in ${seconds.toFixed(1)} s; ` +
      `statuses ${JSON.stringify(Object.fromEntries(stats.statuses))}; ` +
      `connections closed by the engine ${stats.closedByEngine}; ` +
      `RSS ${rssStart.toFixed(0)} → peak ${rssPeak.toFixed(0)} → ${rssEnd.toFixed(0)} MiB`);

    const errors = engine.lines.filter((line) => Number(line.level) >= 50).slice(0, 5);
    t.equal(failure, null, `no fuzzing worker failed ${failure === null ? ''
      : `(engine errors: ${JSON.stringify(errors)}; stderr: ${engine.stderr.join('').slice(-1500)})`}`);
    t.notOk(crashed, `the engine never crashed ${crashed
      ? `(engine errors: ${JSON.stringify(errors)}; stderr: ${engine.stderr.join('').slice(-1500)})` : ''}`);
    t.same(stats.badStatuses, [], 'no 5xx other than 503');
    t.same(stats.stalls, [], 'every well-framed request and every frame was answered in time');
    t.ok(HTTP_INPUTS + stats.wsFrames >= 100_000, 'at least 100,000 inputs');
    t.ok(stats.wsAnswers > WS_FRAMES / 2, `most ws frames were answered (${stats.wsAnswers})`);
    t.ok((stats.statuses.get(200) ?? 0) > 1000 && (stats.statuses.get(400) ?? 0) > 100
      && (stats.statuses.get(404) ?? 0) > 100, 'the corpus reached real answers and refusals alike');
    t.ok(rssPeak - rssStart < 200,
      `memory stayed bounded: peak ${rssPeak.toFixed(0)} MiB from ${rssStart.toFixed(0)} MiB`);

    const items = (await request(engine.port, 'GET', '/api/items')).json.items as { id: string; left: number;
      stock: number }[];
    t.equal((await request(engine.port, 'GET', '/healthz')).status, 200, 'still serving');
    t.equal(await engine.stop(), 0, 'stops cleanly on SIGTERM');
    const reconcile = await runScript('reconcile', ['--data', dataDir, '--json'], {}, 60_000);
    t.equal(reconcile.code, 0,
      'reconcile passes: stock and orders are consistent ' +
      `${reconcile.code === 0 ? '' : reconcile.stdout + reconcile.stderr}`);
    const report = JSON.parse(reconcile.stdout) as { items: { id: string; left: number }[] };
    for (const live of items) {
      const after = report.items.find((i) => i.id === live.id);
      t.ok(after !== undefined && after.left <= live.stock,
        `${live.id}: left ${after?.left} within stock ${live.stock}`);
    }
  });
}
