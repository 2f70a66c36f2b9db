// Usage: node --expose-gc dist/bench/user-scale.js [--passes N] [--passes-largest N] [--largest N]
//
// What per-user state costs as distinct users grow to 10^7, measured in
// process (no HTTP): the cost-growth table (cost-growth.ts) stops at 10^6
// users over HTTP because 10^7 buys and 10^7 prebuilt requests are past the
// suite's time bound. This fills the last decade for the part of a buy that
// grows with users.
//
// Each pass builds the engine's real shard for one item (stock 10^7 + 1,
// per-user limit 1, order mode) the way engine.ts does with --workers 0: a
// fresh SQLite database and write-behind log in a temporary directory,
// loadShard() (loadItemBook, HoldingsTable, WriteBehindLog, Shard). Then
// every one of N distinct users buys once (each a win), in groups of
// RING_SLOTS_DEFAULT buys, the most a --workers 0 engine decides before one
// log write (its deferred-answer bound); then every tenth user buys again
// (each limit_reached). Timed separately, per group:
//   verify   UserTokenVerifier.verify of a token signed for that user; a new
//            user is always a cache miss, so this is the full HMAC.
//   decide   Shard.run(OP.buy): end, sold-out and limit checks, the holdings
//            probe (and its doubling when due), the order arrays (and their
//            doubling), counters, the log append; plus the group's log
//            flush, one write() to the segment file (no fsync).
// Not included: HTTP parsing and answering, the ban list, rate limiting and
// the in-flight-users set, which the HTTP thread runs before and after the
// shard, and the persistence worker applying the log to SQLite (another
// thread). Signing the tokens is done between timed groups and not counted.
// Timings: the median over passes in this process, after one unreported
// warm-up pass; the small points get more passes, so that each is at least
// 10^5 timed buys. Memory: one more pass per point in a fresh child process
// (node --expose-gc): RSS, heap and arrayBuffers after global.gc() with the
// database open but before the shard is built, and again at the end while
// the shard is still held, plus the highest RSS sampled after each group.
// The 10^7 point is one pass by default, that child pass, timings included.

import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COUNTER_FIELDS, emptyOrderView, OP, type Shard } from '../engine/shard';
import { RING_SLOTS_DEFAULT } from '../engine/constants';
import { logDirectory } from '../persistence/data-directory';
import { LOG_RECORD_BYTES } from '../persistence/log-constants';
import { OUTCOME } from '../engine/error-catalog';
import { SETTING_FIELDS } from '../engine/item-book';
import { loadShard } from '../engine/shard-loader';
import { signUserToken, UserTokenVerifier } from '../engine/user-token';
import { openDatabase, readItems, upsertItem, type Db, type StoredItem } from '../persistence/database';
import { PROGRESS_FIELDS } from '../persistence/write-behind-log';
import { fixed, formatTable, integer, mebibytes } from './report-table';
import { median } from './result-summary';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
/**
 * One unit more than the largest point has users: the shard answers sold_out
 * before it checks the per-user limit, so with exactly 10^7 the 10^7 point's
 * second buys would all be sold_out, not limit_reached. The table and order
 * arrays start at the same size as for 10^7 (both are capped well below it).
 */
const STOCK = 10_000_001;
const PER_USER_LIMIT = 1;
const SECRET = 'user-scale-bench-secret';
/** Buys decided per log write: the inline shard's deferred-answer bound (config.ringSlots). */
const GROUP_BUYS = RING_SLOTS_DEFAULT;
/** One user in this many buys a second time (limit_reached). */
const REPEAT_EVERY = 10;
/** A first, unreported pass, so that the small points are not timing the compiler. */
const WARM_UP_USERS = 100_000;

/**
 * The small points are repeated until this many first buys are timed, so that each is more than a few
 * milliseconds of work.
 */
const TIMED_BUYS_MIN = 100_000;

interface Flags { passes: number; passesLargest: number; largest: number }

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { passes: 3, passesLargest: 1, largest: 10_000_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    assert.ok(Number.isInteger(value) && value >= 1, `${argv[i]} needs a positive integer`);
    if (argv[i] === '--passes') flags.passes = value;
    else if (argv[i] === '--passes-largest') flags.passesLargest = value;
    else if (argv[i] === '--largest') flags.largest = value;
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  return flags;
}

interface Memory { rss: number; heapUsed: number; heapTotal: number; arrayBuffers: number }

/**
 * Memory after a full collection; the pause lets V8 free the last pass's array buffers, which it does after
 * sweeping.
 */
async function memoryNow(): Promise<Memory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    await sleep(50);
    gc();
  }
  const { rss, heapUsed, heapTotal, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, arrayBuffers };
}

/**
 * Growth over the pass. heapTotal is the V8 heap the process keeps committed:
 * it grows with the bench's own garbage (the signed token strings), which is
 * in RSS too; the engine's per-user state is in arrayBuffers.
 */
interface MemoryGrowth {
  rssBytes: number; rssPeakBytes: number; heapUsedBytes: number; heapTotalBytes: number; arrayBuffersBytes: number;
}

interface PassResult {
  users: number;
  verifyNewNs: number;
  decideWinNs: number;
  verifyRepeatNs: number;
  decideLimitNs: number;
  /** Minor page faults per first buy: first touches of the preallocated, zero-filled tables. */
  faultsPerWin: number;
  /** Measured only on the memory pass: null on passes timed without a forced collection. */
  memory: MemoryGrowth | null;
  holdingsSlots: number;
  holdingsUsed: number;
  orderSlots: number;
  logBytes: number;
  passSeconds: number;
}

/** A fresh database in `dir` holding the one item, as engine.ts leaves it before it builds the shards. */
function openItemDatabase(dir: string, nowMs: number): { db: Db; item: StoredItem } {
  const db = openDatabase(dir, { fsync: false });
  upsertItem(db, {
    id: 'user-scale', name: 'User scale', price: 1000, stock: STOCK, perUserLimit: PER_USER_LIMIT,
    startsAt: nowMs - 1000, endsAt: nowMs + 3_600_000, mode: 'order', payWindowSec: 900, challenge: false,
    fairWindowMs: 0,
  }, nowMs);
  const [item] = readItems(db);
  return { db, item: item! };
}

/**
 * The shard engine.ts builds for --workers 0 (loadShard: books, holdings
 * tables, write-behind log), with its log in `dir`.
 */
function buildShard(dir: string, db: Db, item: StoredItem, nowMs: number): Shard {
  return loadShard({
    index: 0, logDir: logDirectory(dir), bootId: nowMs, fsync: false, items: [{ item, globalIndex: 0 }],
    left: new Int32Array(1), progress: new Int32Array(PROGRESS_FIELDS),
    counters: new Float64Array(COUNTER_FIELDS), settings: new Float64Array(SETTING_FIELDS),
    fair: { key: '', drawDir: null },
  }, db);
}

interface Timer { verifyNs: number; decideNs: number }

/** Verifies `count` tokens, then decides their buys and writes the log once; every buy must end in `expected`. */
function buyGroup(shard: Shard, verifier: UserTokenVerifier, tokens: string[], userIds: Float64Array, count: number,
  expected: number, timer: Timer): void {
  const nowMs = Date.now();
  const view = emptyOrderView();
  const verifyStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) userIds[i] = verifier.verify(tokens[i]!, nowMs);
  const decideStart = process.hrtime.bigint();
  let unexpected = 0;
  for (let i = 0; i < count; i++) if (shard.run(OP.buy, 0, userIds[i]!, 0, nowMs, view) !== expected) unexpected++;
  shard.log.flush();
  const end = process.hrtime.bigint();
  timer.verifyNs += Number(decideStart - verifyStart);
  timer.decideNs += Number(end - decideStart);
  assert.equal(unexpected, 0, `a buy did not end in outcome ${expected}`);
}

/**
 * Every `step`th user of 1..users buys once with its token (the same token
 * each time a user comes back); returns the timing and the highest RSS seen.
 */
function buyAll(shard: Shard, verifier: UserTokenVerifier, users: number, step: number, expires: number,
  expected: number): Timer & { rssMax: number; faults: number } {
  const timer = { verifyNs: 0, decideNs: 0 };
  const faultsBefore = process.resourceUsage().minorPageFault;
  const tokens: string[] = new Array<string>(GROUP_BUYS).fill('');
  const userIds = new Float64Array(GROUP_BUYS);
  let rssMax = 0;
  for (let userId = step; userId <= users;) {
    let count = 0;
    for (; count < GROUP_BUYS && userId <= users; count++, userId += step) {
      tokens[count] = signUserToken(SECRET, userId, expires);
    }
    buyGroup(shard, verifier, tokens, userIds, count, expected, timer);
    rssMax = Math.max(rssMax, process.memoryUsage.rss());
  }
  return { ...timer, rssMax, faults: process.resourceUsage().minorPageFault - faultsBefore };
}

/**
 * One pass at `users` on a fresh shard. With `measureMemory`, memory is read
 * after a forced collection before and after; without, nothing forces one,
 * because code run right after global.gc() measured up to twice as slow
 * here for the next few milliseconds, which swamps the small points.
 */
async function measurePass(users: number, measureMemory: boolean): Promise<PassResult> {
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'user-scale-'));
  try {
    const { db, item } = openItemDatabase(dir, Date.now());
    // Taken with SQLite loaded and open, so that its library and page cache are not counted as the users' cost.
    const before = measureMemory ? await memoryNow() : null;
    const shard = buildShard(dir, db, item, Date.now());
    db.close();
    const verifier = new UserTokenVerifier(SECRET);
    const expires = Math.floor(Date.now() / 1000) + 3600;
    const wins = buyAll(shard, verifier, users, 1, expires, OUTCOME.ok);
    const repeats = buyAll(shard, verifier, users, REPEAT_EVERY, expires, OUTCOME.limit_reached);
    const after = measureMemory ? await memoryNow() : null;
    const book = shard.books[0]!;
    assert.equal(book.orderCount, users);
    assert.equal(book.holdings.used, users);
    shard.log.close();
    const repeatCount = Math.floor(users / REPEAT_EVERY);
    return {
      users, verifyNewNs: wins.verifyNs / users, decideWinNs: wins.decideNs / users,
      verifyRepeatNs: repeats.verifyNs / repeatCount, decideLimitNs: repeats.decideNs / repeatCount,
      faultsPerWin: wins.faults / users,
      memory: before === null || after === null ? null : {
        rssBytes: after.rss - before.rss, rssPeakBytes: Math.max(wins.rssMax, repeats.rssMax, after.rss) - before.rss,
        heapUsedBytes: after.heapUsed - before.heapUsed, heapTotalBytes: after.heapTotal - before.heapTotal,
        arrayBuffersBytes: after.arrayBuffers - before.arrayBuffers,
      },
      holdingsSlots: book.holdings.capacity, holdingsUsed: book.holdings.used, orderSlots: book.orderUser.length,
      logBytes: shard.log.recordsWritten * LOG_RECORD_BYTES, passSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Point { users: number; timedPasses: number; timed: PassResult[]; memoryPass: PassResult; summary: PassResult }

/** The median of each timing over the timed passes; memory and sizes from the memory pass. */
function summarize(timed: readonly PassResult[], memoryPass: PassResult): PassResult {
  const of = (pick: (pass: PassResult) => number): number => median(timed.map(pick));
  return {
    ...memoryPass, verifyNewNs: of((p) => p.verifyNewNs), decideWinNs: of((p) => p.decideWinNs),
    verifyRepeatNs: of((p) => p.verifyRepeatNs), decideLimitNs: of((p) => p.decideLimitNs),
    faultsPerWin: of((p) => p.faultsPerWin),
  };
}

const MEMORY_PASS_FLAG = '--memory-pass';

/**
 * The memory pass runs in a fresh process of its own, so that its RSS is not
 * flattered by pages an earlier pass faulted in and the allocator kept.
 */
function memoryPassInChild(users: number): PassResult {
  const child = spawnSync(process.execPath, ['--expose-gc', __filename, MEMORY_PASS_FLAG, String(users)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  assert.equal(child.status, 0, `memory pass at ${users} users failed`);
  const lines = child.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as PassResult;
}

/**
 * `timedPasses` passes without forced collections, then the memory pass.
 * With one timed pass (the largest point) the memory pass is also the timed
 * one: a fresh process's compiling and a collection's after-effect, a few
 * milliseconds, are nothing beside 10^7 buys.
 */
async function measurePoint(users: number, timedPasses: number): Promise<Point> {
  const timed: PassResult[] = [];
  if (timedPasses > 1) for (let pass = 0; pass < timedPasses; pass++) timed.push(await measurePass(users, false));
  const memoryPass = memoryPassInChild(users);
  if (timedPasses === 1) timed.push(memoryPass);
  return { users, timedPasses, timed, memoryPass, summary: summarize(timed, memoryPass) };
}

const mebibytesOrNa = (bytes: number | undefined): string => mebibytes(bytes ?? null);

function table(rows: readonly Point[]): string {
  const header = ['users', 'timed passes', 'verify ns (new)', 'decide ns (win)', 'verify+decide ns',
    'verify ns (repeat)', 'decide ns (limit_reached)', 'page faults / win', 'RSS growth MiB',
    'peak RSS growth MiB (sampled)', 'arrayBuffers growth MiB', 'heap used / committed growth MiB', 'holdings slots',
    'holdings MiB', 'order slots'];
  return formatTable(header, rows.map(({ timedPasses, summary: s }) => [
    integer(s.users), String(timedPasses), fixed(s.verifyNewNs, 0), fixed(s.decideWinNs, 0),
    fixed(s.verifyNewNs + s.decideWinNs, 0), fixed(s.verifyRepeatNs, 0), fixed(s.decideLimitNs, 0),
    fixed(s.faultsPerWin, 2), mebibytesOrNa(s.memory?.rssBytes), mebibytesOrNa(s.memory?.rssPeakBytes),
    mebibytesOrNa(s.memory?.arrayBuffersBytes),
    `${fixed((s.memory?.heapUsedBytes ?? NaN) / 2 ** 20, 1)} / ${mebibytesOrNa(s.memory?.heapTotalBytes)}`,
    integer(s.holdingsSlots), mebibytes(s.holdingsSlots * 10), integer(s.orderSlots),
  ]));
}

async function main(): Promise<void> {
  if (process.argv[2] === MEMORY_PASS_FLAG) {
    console.log(JSON.stringify(await measurePass(Number(process.argv[3]), true)));
    return;
  }
  const flags = parseFlags(process.argv.slice(2));
  const started = performance.now();
  await measurePass(WARM_UP_USERS, false);
  const rows: Point[] = [];
  for (const users of [1e3, 1e4, 1e5, 1e6, 1e7].filter((count) => count <= flags.largest)) {
    const timedPasses = users === flags.largest
      ? flags.passesLargest
      : Math.max(flags.passes, Math.ceil(TIMED_BUYS_MIN / users));
    const point = await measurePoint(users, timedPasses);
    rows.push(point);
    const passes = new Set([...point.timed, point.memoryPass]);
    const seconds = [...passes].reduce((sum, pass) => sum + pass.passSeconds, 0);
    console.log(`  users ${integer(users)}: ${passes.size} pass(es), ${fixed(seconds, 1)} s`);
  }
  console.log(table(rows));
  const machine = {
    cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', totalMemoryBytes: os.totalmem(),
    node: process.version,
  };
  const file = path.join(RESULTS_DIR, `user-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(file, JSON.stringify({
    stock: STOCK, perUserLimit: PER_USER_LIMIT, groupBuys: GROUP_BUYS, repeatEvery: REPEAT_EVERY,
    machine, totalSeconds: (performance.now() - started) / 1000, points: rows,
  }, null, 2));
  console.log(`wrote ${path.relative(ROOT, file)} (${fixed((performance.now() - started) / 1000, 1)} s)`);
}

void main();
