// Proves `node scripts/reconcile` on real data directories: the engine sells
// units in order and reserve mode (pays and cancels included) and is stopped
// with SIGTERM or killed with kill -9; reconcile then passes, read-only, and
// what it computes (left per item, after replaying the log tail in memory) is
// what the engine loads on its next start, including an unapplied tail and a
// torn last write. It refuses while the engine runs. Then, on copies of a
// killed engine's directory, one corruption at a time is made on purpose and
// each is caught with exit 1 and a message naming the item, the orders, the
// user, or the segment and record index: an extra order past the stock, a
// user past perUserLimit, log_applied lower than the truth (a won record
// applied twice) and higher than the file, an order row missing though its
// won record is applied, an order state SQLite changed contrary to the log,
// and an order on no item; a leftover log_applied row is only a warning.

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  MODES, buyPathOf, item, modeNamed, request, signToken, startEngine, tempDataDir, type EngineHandle,
} from '../helpers/engine-process';
import {
  changeDatabase, copyDataDir, digestDataDir, readSegments, rewindPersister, runScript,
} from '../helpers/script-process';

const TWO_POW_32 = 4294967296;

const SALE = [
  item('few', { stock: 5 }), // row 1: sold out
  item('res', { stock: 40, mode: 'reserve', payWindowSec: 3600, perUserLimit: 2 }), // row 2
  item('many', { stock: 100, perUserLimit: 2 }), // row 3
];

interface Sold {
  orders: Map<string, number>; // order id -> user
  paid: string;
  cancelled: string;
}

interface Finding { severity: string; check: string; message: string; item?: string; orders?: string[]; user?: number;
  segment?: string; record?: number }
interface Report {
  consistent: boolean;
  items: { id: string; stock: number; held: number; left: number; heldInSqlite: number; ordersFromTail: number;
    tailRecords: number }[];
  segments: { name: string; validRecords: number; applied: number; tail: number; tornBytes: number }[];
  findings: Finding[];
}

async function buy(engine: EngineHandle, buyPath: string, user: number, sold: Map<string, number>): Promise<string> {
  const reply = await request(engine.port, 'POST', buyPath, { token: signToken(user) });
  if (reply.status !== 200) throw new Error(`buy for ${user}: ${reply.status} ${reply.body}`);
  sold.set(reply.json.order as string, user);
  return reply.json.order as string;
}

/** Sells out `few`, reserves, pays and cancels on `res`, and ends with wins on `many` (so the log ends in wins). */
async function sellSome(engine: EngineHandle): Promise<Sold> {
  const orders = new Map<string, number>();
  const paths = { few: await buyPathOf(engine.port, 'few'), res: await buyPathOf(engine.port, 'res'),
    many: await buyPathOf(engine.port, 'many') };
  for (let user = 101; user <= 105; user++) await buy(engine, paths.few, user, orders);
  if ((await request(engine.port, 'POST', paths.few,
    { token: signToken(106) })).json.error !== 'sold_out') throw new Error('few is not sold out');
  const reserved: string[] = [];
  for (let user = 201; user <= 210; user++) reserved.push(await buy(engine, paths.res, user, orders));
  await buy(engine, paths.res, 201, orders);
  const paid = reserved[1]!;
  const cancelled = reserved[3]!;
  if ((await request(engine.port, 'POST', `/api/orders/${paid}/pay`,
    { token: signToken(202) })).json.state !== 'paid') throw new Error('pay failed');
  if ((await request(engine.port, 'POST', `/api/orders/${reserved[2]!}/pay`,
    { token: signToken(203) })).json.state !== 'paid') throw new Error('pay failed');
  if ((await request(engine.port, 'POST', `/api/orders/${cancelled}/cancel`,
    { token: signToken(204) })).json.state !== 'cancelled') throw new Error('cancel failed');
  for (let user = 301; user <= 340; user++) await buy(engine, paths.many, user, orders);
  await buy(engine, paths.many, 301, orders);
  return { orders, paid, cancelled };
}

async function leftOf(engine: EngineHandle): Promise<Record<string, number>> {
  await sleep(300); // /api/items may be 250 ms stale
  const list = await request(engine.port, 'GET', '/api/items');
  return Object.fromEntries((list.json.items as { id: string; left: number }[]).map((i) => [i.id, i.left]));
}

async function reconcileJson(dataDir: string): Promise<{ code: number | null; report: Report }> {
  const run = await runScript('reconcile', ['--data', dataDir, '--json']);
  return { code: run.code, report: JSON.parse(run.stdout) as Report };
}

function leftIn(report: Report): Record<string, number> {
  return Object.fromEntries(report.items.map((i) => [i.id, i.left]));
}

function errorsOf(report: Report): Finding[] {
  return report.findings.filter((f) => f.severity === 'error');
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `reconcile refuses while the engine runs, and passes after SIGTERM with the left the engine offered`,
    async (t) => {
    const dataDir = tempDataDir('reconcile-term');
    const engine = await startEngine({ dataDir, args: [...mode.args], sale: SALE });
    await sellSome(engine);
    const offered = await leftOf(engine);
    t.same(offered, { few: 0, res: 30, many: 59 }, 'the sale as the shoppers saw it');
    const refused = await runScript('reconcile', ['--data', dataDir]);
    t.equal(refused.code, 2, 'a running engine is refused with exit 2');
    t.match(refused.stderr, /--data: an engine \(pid \d+.*\) is running/);
    t.equal(await engine.stop(), 0);

    const human = await runScript('reconcile', ['--data', dataDir]);
    t.equal(human.code, 0, human.stdout);
    t.match(human.stdout, /item "few" \(row 1\): stock 5, held 5, left 0/);
    t.match(human.stdout, /item "res" \(row 2\): stock 40, held 10, left 30/);
    t.match(human.stdout, /log: no segments/);
    t.match(human.stdout, /consistent: every check passed/);
    const { code, report } = await reconcileJson(dataDir);
    t.equal(code, 0);
    t.equal(report.consistent, true);
    t.same(leftIn(report), offered, 'left per item is what the engine offered');
    t.same(report.findings, [], 'nothing to report');
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, after kill -9 right after the buys, the log left in DIR/log ` +
    'reconciles read-only and start-up loads the left reconcile computed', async (t) => {
    const dataDir = tempDataDir('reconcile-kill');
    let engine = await startEngine({ dataDir, args: [...mode.args], sale: SALE });
    const sold = await sellSome(engine);
    await engine.kill();
    const segments = readSegments(dataDir);
    t.ok(segments.length >= 1, `${segments.length} log segment(s) remain in DIR/log`);
    const before = digestDataDir(dataDir);
    const { code, report } = await reconcileJson(dataDir);
    t.equal(code, 0, JSON.stringify(errorsOf(report)));
    t.equal(digestDataDir(dataDir), before, 'reconcile changed nothing: database, WAL and log as they were');
    t.equal(report.segments.reduce((sum, s) => sum + s.validRecords, 0),
      segments.reduce((sum, s) => sum + s.records.length, 0), 'every record of every segment was read');
    t.comment(`${report.segments.reduce((sum, s) => sum + s.tail, 0)} record(s) were still unapplied at the kill`);
    t.ok(report.findings.some((f) => f.check === 'stale_pid_file'), 'the pid file of the killed engine is mentioned');
    t.same(leftIn(report), { few: 0, res: 30, many: 59 });

    engine = await startEngine({ dataDir, args: [...mode.args], sale: SALE });
    t.same(await leftOf(engine), leftIn(report), 'the restarted engine offers what reconcile computed');
    const [orderId, user] = [...sold.orders].at(-1)!;
    t.equal((await request(engine.port, 'GET', `/api/orders/${orderId}`, { token: signToken(user) })).status, 200,
      'the last order is there');
    t.equal(await engine.stop(), 0);
  });
}

// The corruption cases copy one killed engine's directory a dozen times and
// run reconcile on each (about 8 s a layout), so they run under two layouts,
// not three. Each case is written around the one log segment of a single
// shard (the record it corrupts is found in that segment), so the second
// layout is one shard worker fed by two HTTP threads rather than
// --workers 2 --http-threads 2, whose two shards write a segment each; what
// reconcile checks is the files, which the HTTP threads do not write.
const CORRUPTION_MODES = [
  modeNamed('--workers 0'),
  { name: '--workers 1 --http-threads 2', args: ['--workers', '1', '--http-threads', '2'] },
];

for (const mode of CORRUPTION_MODES) {
  t.test(`with ${mode.name}, ` +
    `corruption made on purpose is caught, each with exit 1 and a precise message`, async (t) => {
    // The base: a killed engine whose persister had applied everything, so each
    // copy differs from a consistent directory by exactly one change.
    const base = tempDataDir('reconcile-base');
    const engine = await startEngine({ dataDir: base, args: [...mode.args], sale: SALE });
    const sold = await sellSome(engine);
    await sleep(300);
    await engine.kill();
    const [segment] = readSegments(base);
    const records = segment!.records;
    const baseline = await reconcileJson(base);
    t.equal(baseline.code, 0, 'the base reconciles');
    t.same(baseline.report.segments,
      [{ name: segment!.name, validRecords: records.length, applied: records.length, tail: 0, tornBytes: 0 }],
      'one segment, fully applied');

    /** Runs reconcile on a corrupted copy; expects exit 1 and exactly the given checks among the errors. */
    async function caught(t: Test, dataDir: string, checks: string[]): Promise<Finding[]> {
      const human = await runScript('reconcile', ['--data', dataDir]);
      t.equal(human.code, 1, 'exit 1');
      t.match(human.stdout, /INCONSISTENT: \d+ error\(s\)/);
      const { code, report } = await reconcileJson(dataDir);
      t.equal(code, 1);
      t.equal(report.consistent, false);
      const errors = errorsOf(report);
      t.same([...new Set(errors.map((f) => f.check))].sort(), [...checks].sort(),
        `the errors are ${checks.join(', ')}: ${errors.map((f) => f.message).join(' | ')}`);
      for (const f of errors) t.match(human.stdout, `ERROR ${f.check}: ${f.message}`, 'the human report says the same');
      return errors;
    }

    t.test('(a) an extra order row past the stock is reported as a unit sold twice, naming the item and the order',
      async (t) => {
      const dir = copyDataDir(base, 'corrupt-a');
      const extra = 1 * TWO_POW_32 + 6;
      changeDatabase(dir, (db) =>
        db.prepare('INSERT INTO orders (id, item_row, user_id, state, created_at, pay_by, updated_at) ' +
          'VALUES (?, 1, 999, 3, ?, NULL, ?)').run(extra, Date.now(), Date.now()));
      const [finding] = await caught(t, dir, ['oversold']);
      t.equal(finding!.item, 'few');
      t.same(finding!.orders, [String(extra)]);
      t.match(finding!.message,
        'item "few" (row 1): 6 units held but stock is 5 (left would be -1): 1 unit(s) sold twice; ' +
        `the latest holding order(s): ${extra}`);
    });

    t.test('(b) a user holding more than perUserLimit is reported with the user and every order, ' +
      'though the sequence is far past the count', async (t) => {
      const dir = copyDataDir(base, 'corrupt-b');
      const extra = 3 * TWO_POW_32 + 1000;
      changeDatabase(dir, (db) =>
        db.prepare('INSERT INTO orders (id, item_row, user_id, state, created_at, pay_by, updated_at) ' +
          'VALUES (?, 3, 301, 3, ?, NULL, ?)').run(extra, Date.now(), Date.now()));
      const [finding] = await caught(t, dir, ['per_user_limit']);
      const ofUser = [...sold.orders].filter(([id, user]) => user === 301
        && Math.floor(Number(id) / TWO_POW_32) === 3).map(([id]) => id);
      t.equal(finding!.user, 301);
      t.same(finding!.orders, [...ofUser, String(extra)].sort(), 'naming all three orders');
      t.match(finding!.message, /item "many": user 301 holds 3 units but perUserLimit is 2: orders /);
    });

    t.test('(c) log_applied lower than the truth shows a won record applied twice; higher than the file is caught too',
      async (t) => {
      const lower = copyDataDir(base, 'corrupt-c1');
      const last = records.length - 1;
      changeDatabase(lower, (db) =>
        db.prepare('UPDATE log_applied SET records = ? WHERE segment = ?').run(last, segment!.name));
      const [twice] = await caught(t, lower, ['applied_twice']);
      t.equal(twice!.item, 'many');
      t.equal(twice!.segment, segment!.name);
      t.equal(twice!.record, last);
      t.same(twice!.orders, [String(records[last]!.orderId)]);
      t.match(twice!.message,
        `its won record ${segment!.name}#${last} is past the applied offset (log_applied = ${last}) ` +
        'but the order is already in SQLite');

      const higher = copyDataDir(base, 'corrupt-c2');
      changeDatabase(higher, (db) =>
        db.prepare('UPDATE log_applied SET records = ? WHERE segment = ?').run(records.length + 5, segment!.name));
      const [beyond] = await caught(t, higher, ['applied_beyond_file']);
      t.equal(beyond!.segment, segment!.name);
      t.match(beyond!.message,
        `log_applied says ${records.length + 5} records are applied ` +
        `but the file holds only ${records.length} good records`);
    });

    t.test('(d) an order row deleted though its won record is within the applied offset is reported ' +
      'with the segment and record index', async (t) => {
      const dir = copyDataDir(base, 'corrupt-d');
      const index = records.findIndex((r) => r.type === 1 && Math.floor(r.orderId / TWO_POW_32) === 1);
      const gone = records[index]!.orderId;
      changeDatabase(dir, (db) => db.prepare('DELETE FROM orders WHERE id = ?').run(gone));
      const [finding] = await caught(t, dir, ['missing_order']);
      t.same(finding!.orders, [String(gone)]);
      t.equal(finding!.item, 'few');
      t.equal(finding!.segment, segment!.name);
      t.equal(finding!.record, index);
      t.match(finding!.message,
        `order ${gone} (item "few", user ${records[index]!.userId}): its won record ${segment!.name}#${index} ` +
        `is applied (log_applied = ${records.length}) but the order is not in SQLite`);
    });

    t.test('(e) an order state changed in SQLite contrary to the applied log is reported ' +
      'with the record that says otherwise', async (t) => {
      const dir = copyDataDir(base, 'corrupt-e');
      const paidAt = records.findIndex((r) => String(r.orderId) === sold.paid && r.type === 2);
      t.ok(paidAt > 0, 'the pay record is in the log');
      changeDatabase(dir, (db) => db.prepare('UPDATE orders SET state = 5 WHERE id = ?').run(Number(sold.paid)));
      const [finding] = await caught(t, dir, ['state_mismatch']);
      t.same(finding!.orders, [sold.paid]);
      t.equal(finding!.item, 'res');
      t.equal(finding!.record, paidAt);
      t.match(finding!.message,
        `order ${sold.paid} (item "res", user 202): SQLite says "cancelled" ` +
        `but the last applied log record for it, ${segment!.name}#${paidAt}, says "paid"`);
    });

    t.test('an order on no item is an error; a log_applied row for a segment that is gone is only a warning',
      async (t) => {
      const orphan = copyDataDir(base, 'corrupt-orphan');
      const stray = 9 * TWO_POW_32 + 1;
      changeDatabase(orphan, (db) =>
        db.prepare('INSERT INTO orders (id, item_row, user_id, state, created_at, pay_by, updated_at) ' +
          'VALUES (?, 9, 5, 3, 0, NULL, 0)').run(stray));
      const [finding] = await caught(t, orphan, ['orphan_order']);
      t.same(finding!.orders, [String(stray)]);
      t.match(finding!.message, `1 order(s) in SQLite belong to item row 9, which is no item: ${stray}`);

      const stale = copyDataDir(base, 'stale-applied');
      changeDatabase(stale, (db) =>
        db.prepare('INSERT INTO log_applied (segment, records) VALUES (?, 12)').run('0000000000001-000-000001.wal'));
      const { code, report } = await reconcileJson(stale);
      t.equal(code, 0, 'still consistent');
      const warning = report.findings.find((f) => f.check === 'stale_log_applied')!;
      t.equal(warning.severity, 'warning');
      t.match(warning.message,
        'log_applied names segment 0000000000001-000-000001.wal (12 records applied) but the file is gone');
    });

    t.test('an unapplied tail and a torn last write are not errors: reconcile replays them in memory ' +
      'and start-up then loads exactly that', async (t) => {
      const dir = copyDataDir(base, 'tail');
      const rewound = rewindPersister(dir, segment!, 5);
      fs.appendFileSync(path.join(dir, 'log', segment!.name), Buffer.alloc(20, 0xab));
      const { code, report } = await reconcileJson(dir);
      t.equal(code, 0, JSON.stringify(errorsOf(report)));
      t.same(report.segments,
        [{ name: segment!.name, validRecords: records.length, applied: records.length - 5, tail: 5, tornBytes: 20 }]);
      const torn = report.findings.find((f) => f.check === 'torn_tail')!;
      t.equal(torn.severity, 'info', 'the torn tail is information');
      t.match(torn.message, `${segment!.name}: 20 bytes after record ${records.length} are a torn last write`);
      const many = report.items.find((i) => i.id === 'many')!;
      t.equal(many.ordersFromTail, 5, 'the five rewound wins come from the tail');
      t.equal(many.heldInSqlite, many.held - 5, 'SQLite alone is five short');
      t.same(leftIn(report), { few: 0, res: 30, many: 59 }, 'left counts them');

      const engine = await startEngine({ dataDir: dir, args: [...mode.args], sale: SALE });
      t.teardown(() => engine.stop());
      const replayed = engine.lines.find((l) => l.msg === 'write-behind log replayed into SQLite')!;
      t.equal(replayed.recordsApplied, 5, 'start-up replays the same five records');
      t.equal(replayed.tornBytes, 20, 'and drops the same torn bytes');
      t.same(await leftOf(engine), leftIn(report), 'and offers what reconcile computed');
      for (const id of rewound) {
        t.equal((await request(engine.port, 'GET', `/api/orders/${id}`,
          { token: signToken(sold.orders.get(String(id))!) })).status, 200, `order ${id} is there for its owner`);
      }
    });
  });
}
