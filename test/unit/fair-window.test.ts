// Proves the fair window's draw rules (fair-draw.ts) and the shard's side of
// a window (shard.ts, fair-window.ts) with an injected clock:
// - the draw is a pure function of the seed and the set of entrants (not
//   their arrival order), pinned to one known result so that a change of
//   the published rules cannot pass unnoticed, and every order of three
//   entrants comes out about equally often over 6,000 seeds;
// - inside the window a buy enters (one entry per user, one `entered` log
//   record each, nothing sold); at the close the shard sells in drawn
//   order, so the winners are places 1..stock; a buy stamped after the close
//   draws first; a keyed retry gets the drawn result; the published proof
//   checks (scripts/verify-draw's checkDraw) and is read back by a new shard;
// - after a crash that kept some of the draw's orders but not its proof,
//   the draw is made again and those users keep their orders: the results
//   are those of the first draw and no unit is sold twice.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { OUTCOME } from '../../engine/error-catalog';
import { drawPlaces, entrantHash, fairSeed } from '../../engine/fair-draw';
import { ENTRY_RESULT, FairWindow, readDrawProof } from '../../engine/fair-window';
import { ItemBook, SETTING_FIELDS } from '../../engine/item-book';
import { emptyOrderView, OP, Shard } from '../../engine/shard';
import { drawFile } from '../../persistence/data-directory';
import type { StoredItem } from '../../persistence/database';
import { decodeLeadingRecords, RECORD_TYPE, type LogRecord } from '../../persistence/log-record';
import { sequenceOf } from '../../persistence/order-id';
import { PROGRESS_FIELDS, segmentFileName, WriteBehindLog } from '../../persistence/write-behind-log';
import { checkDraw } from '../../scripts/verify-draw';

const T0 = 1_900_000_000_000;
const WINDOW_MS = 500;
const DRAW_AT = T0 + WINDOW_MS;
const KEY = 'a'.repeat(64);
const ROW = 7;

t.test('the draw depends on the seed and the set of entrants only, and is pinned', async (t) => {
  const seed = fairSeed(KEY, ROW, DRAW_AT);
  const hashes = Array.from({ length: 10 }, (_, i) => entrantHash(seed.toString('hex'), 100 + i));
  const places = drawPlaces(seed, hashes);
  t.same(drawPlaces(seed, [...hashes].reverse()), places, 'arrival order does not matter');
  t.same([...places].sort(), [...hashes].sort(), 'every entrant has one place');
  t.notSame(drawPlaces(fairSeed(KEY, ROW, DRAW_AT + 1), hashes), places, 'another seed draws another order');
  const users = places.map((hash) => 100 + hashes.indexOf(hash));
  // Computed by a separate implementation of the rules in docs/API.md (a
  // few lines of Python with hmac and hashlib), not by this code.
  t.same(users, [108, 106, 102, 105, 107, 103, 109, 104, 101, 100],
    'the published rules give this order for this key, row and drawAt');
});

t.test('every order of three entrants is about equally likely', async (t) => {
  const counts = new Map<string, number>();
  const runs = 6000;
  for (let run = 0; run < runs; run++) {
    const order = drawPlaces(fairSeed(KEY, ROW, T0 + run), ['a', 'b', 'c']).join('');
    counts.set(order, (counts.get(order) ?? 0) + 1);
  }
  t.equal(counts.size, 6, 'all six orders occur');
  for (const [order, count] of counts) t.ok(Math.abs(count - runs / 6) < 150, `${order}: ${count} of ${runs}`);
});

interface Rig {
  shard: Shard;
  book: ItemBook;
  log: WriteBehindLog;
  drawDir: string;
  buy(user: number, nowMs: number, key?: number): number;
  entry(user: number): { outcome: number; place: number; result: number; orderId: number };
  records(): LogRecord[];
}

function fairItem(stock: number): StoredItem {
  return {
    row: ROW, id: 'fair', name: 'Fair', price: 1, stock, perUserLimit: 1, startsAt: T0, endsAt: T0 + 3_600_000,
    mode: 'order', payWindowSec: 60, challenge: false, fairWindowMs: WINDOW_MS,
  };
}

/** A shard with one fair item; `prepare` makes its book a restarted one (entrants, orders). */
function rig(t: Test, dir: string, stock: number, prepare?: (book: ItemBook) => void, logName = 'log'): Rig {
  const logDir = path.join(dir, logName);
  const drawDir = path.join(dir, 'draws');
  fs.mkdirSync(logDir, { recursive: true });
  const log = new WriteBehindLog(logDir, T0, 0, false, new Int32Array(new SharedArrayBuffer(PROGRESS_FIELDS * 4)));
  t.teardown(() => log.close());
  const book = new ItemBook(fairItem(stock), 0, stock, new Float64Array(SETTING_FIELDS));
  prepare?.(book);
  const shard = new Shard(0, [book], log, new Int32Array(1), new Float64Array(8), { key: KEY, drawDir });
  const out = emptyOrderView();
  return {
    shard, book, log, drawDir,
    buy: (user, nowMs, key = 0) => shard.run(OP.buy, 0, user, key, nowMs, out),
    entry: (user) => {
      const outcome = shard.run(OP.entry, 0, user, 0, DRAW_AT, out);
      return { outcome, place: out.place, result: out.state, orderId: out.orderId };
    },
    records: () => {
      log.flush();
      const records: LogRecord[] = [];
      decodeLeadingRecords(fs.readFileSync(path.join(logDir, segmentFileName(T0, 0, 1))),
        (record) => records.push({ ...record }));
      return records;
    },
  };
}

const USERS = [11, 12, 13, 14, 15, 16, 17, 18];

t.test('a window enters, draws in order at its close and publishes a proof that checks', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-fair-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = rig(t, dir, 3);
  USERS.forEach((user, i) => {
    t.equal(r.buy(user, T0 + i, user === 11 ? 77 : 0), OUTCOME.entered, `user ${user} enters`);
  });
  t.equal(r.buy(12, T0 + 100), OUTCOME.entered, 'a second buy of one user is the same entry');
  t.equal(r.book.left, 3, 'nothing is sold inside the window');
  t.equal(r.entry(12).outcome, OUTCOME.entered, 'an entrant reads "entered" before the draw');
  t.equal(r.entry(99).outcome, OUTCOME.not_entered, 'a stranger has no entry');
  t.equal(r.shard.drawDue(DRAW_AT - 1), 0, 'nothing is drawn before the close');
  t.equal(r.shard.nextDrawAt(), DRAW_AT, 'the shard knows when to wake for the draw');
  t.equal(r.buy(99, DRAW_AT), OUTCOME.sold_out, 'a buy stamped at the close draws first: the entrants took it all');
  const entered = r.records().filter((record) => record.type === RECORD_TYPE.entered);
  t.same(entered.map((record) => record.userId), USERS, 'one entered record per entrant, in entry order');
  t.same(entered.map((record) => record.payBy), USERS.map(() => DRAW_AT), 'each names the close of its window');
  t.equal(entered[0]!.key, 77, 'with its idempotency key');
  r.shard.publishDraws();
  const proof = readDrawProof(drawFile(r.drawDir, ROW, DRAW_AT))!;
  t.equal(checkDraw(proof), null, 'the published proof checks');
  const byPlace = USERS.map((user) => ({ user, ...r.entry(user) })).sort((a, b) => a.place - b.place);
  t.same(byPlace.map((entry) => entry.place), [1, 2, 3, 4, 5, 6, 7, 8], 'places 1..8');
  t.same(byPlace.map((entry) => entry.result), [1, 1, 1, 2, 2, 2, 2, 2],
    'places 1..3 won, the rest drew sold_out');
  t.equal(r.book.left, 0, 'the stock is sold: 3 in the draw');
  const retry = r.buy(11, DRAW_AT + 5, 77);
  const first = r.entry(11);
  t.equal(retry, first.result === ENTRY_RESULT.won ? OUTCOME.ok : OUTCOME.sold_out,
    'a keyed retry of an entry answers what the draw gave it');

  const again = rig(t, dir, 3, (book) => {
    book.fair = new FairWindow(DRAW_AT);
    for (const user of USERS) book.fair.add(user, 0);
    for (const entry of byPlace.filter((e) => e.result === ENTRY_RESULT.won)) {
      book.restoreOrder(sequenceOf(entry.orderId), entry.user, 3, DRAW_AT, 0);
    }
  }, 'log-after-restart');
  t.same(USERS.map((user) => again.entry(user).place), USERS.map((user) => r.entry(user).place),
    'a new shard reads the results back from the proof');
});

t.test('a draw cut short by a crash is made again without selling twice', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-fair-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = rig(t, dir, 3);
  for (const user of USERS) first.buy(user, T0);
  first.shard.drawDue(DRAW_AT);
  const results = USERS.map((user) => first.entry(user));
  const winners = USERS.filter((_, i) => results[i]!.result === ENTRY_RESULT.won);
  // The crash: the draw's first two orders reached the log, its proof was never written.
  const kept = winners.map((user) => ({ user, sequence: sequenceOf(results[USERS.indexOf(user)]!.orderId) }))
    .sort((a, b) => a.sequence - b.sequence).slice(0, 2);
  const second = rig(t, fs.mkdtempSync(path.join(dir, 'again-')), 3, (book) => {
    book.fair = new FairWindow(DRAW_AT);
    for (const user of USERS) book.fair.add(user, 0);
    for (const { user, sequence } of kept) book.restoreOrder(sequence, user, 3, DRAW_AT, 0);
  });
  t.equal(second.book.left, 1, 'two units are held by the kept orders');
  t.equal(second.shard.drawDue(DRAW_AT + 50), 1, 'the undrawn window is drawn after the restart');
  t.same(USERS.map((user) => second.entry(user).result), results.map((result) => result.result),
    'the same users win');
  t.equal(second.book.left, 0, 'and exactly the stock is sold');
  t.equal(second.book.orderCount, 3, 'the kept orders were not sold again: one new order');
});
