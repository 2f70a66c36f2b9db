// Proves the snapshot file as the writer thread makes it: a hand-built cut
// comes out as the exact JSON restore reads (order ids from row and
// sequence, state names, null payBy, holders); a cut that does not balance
// (left + held != stock, or holdings != held orders) is refused and leaves
// no file behind; an item of 300,000 orders spans many write chunks and
// reads back whole; and the writer thread takes the copies by transfer (the
// sender's buffers are detached) and answers with the path; pruning keeps
// the newest N files and removes stale .tmp files.

import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ORDER_STATE } from '../../persistence/log-record';
import { TWO_POW_32 } from '../../persistence/order-id';
import {
  pruneSnapshots, writeSnapshotFile, writeSnapshotInThread, type ItemSnapshot, type SnapshotJob,
} from '../../engine/snapshot';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-snapshot-file-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Orders as [user, state, createdAt, payBy]; holders as [user, units]. */
function books(row: number, stock: number, left: number, orders: number[][], holders: number[][]): ItemSnapshot {
  return {
    row, globalIndex: 0, stock, left,
    orderUser: Float64Array.from(orders.map((o) => o[0]!)), orderState: Uint8Array.from(orders.map((o) => o[1]!)),
    orderCreatedAt: Float64Array.from(orders.map((o) => o[2]!)),
    orderPayBy: Float64Array.from(orders.map((o) => o[3]!)),
    holders: Float64Array.from(holders.flat()),
  };
}

function job(name: string, items: ItemSnapshot[]): SnapshotJob {
  return {
    file: path.join(dir, name), takenAt: 1_700_000_000_000,
    shards: [{
      shard: 0, pausedMs: 1.5, log: { segment: 'seg-1', records: 7 },
      items: items.map((b, i) => ({ head: `{"id":"item-${i}",`, books: b })),
    }],
  };
}

const { reserved, paid, confirmed, cancelled, expired } = ORDER_STATE;

t.test('a cut comes out as the exact JSON restore reads', async (t) => {
  const cut = books(3, 5, 2, [[10, confirmed, 1000, 0], [11, reserved, 1001, 61001], [10, cancelled, 1002, 61002],
    [12, paid, 1003, 61003], [13, expired, 1004, 61004]],
    [[10, 1], [11, 1], [12, 1]]);
  const file = writeSnapshotFile(job('exact.json', [cut]));
  t.equal(file, path.join(dir, 'exact.json'));
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), {
    takenAt: 1_700_000_000_000,
    shards: [{
      shard: 0, pausedMs: 1.5, log: { segment: 'seg-1', records: 7 },
      items: [{
        id: 'item-0',
        orders: [[3 * TWO_POW_32 + 1, 10, 'confirmed', 1000, null], [3 * TWO_POW_32 + 2, 11, 'reserved', 1001, 61001],
          [3 * TWO_POW_32 + 3, 10, 'cancelled', 1002, 61002], [3 * TWO_POW_32 + 4, 12, 'paid', 1003, 61003],
          [3 * TWO_POW_32 + 5, 13, 'expired', 1004, 61004]],
        holdings: [[10, 1], [11, 1], [12, 1]],
      }],
    }],
  });
  t.same(fs.readdirSync(dir), ['exact.json'], 'no .tmp file is left');
});

t.test('a cut that does not balance is refused and leaves no file', async (t) => {
  const wrongLeft = books(1, 5, 3, [[10, confirmed, 1000, 0]], [[10, 1]]);
  t.throws(() => writeSnapshotFile(job('left.json', [wrongLeft])), /does not balance: left 3 \+ held 1 vs stock 5/);
  const wrongHolders = books(1, 2, 1, [[10, confirmed, 1000, 0]], [[10, 1], [11, 1]]);
  t.throws(() => writeSnapshotFile(job('holders.json', [wrongHolders])), /holdings 2/);
  t.same(fs.readdirSync(dir).filter((name) => name.startsWith('left') || name.startsWith('holders')), [],
    'neither the file nor its .tmp exists');
});

t.test('300,000 orders span many write chunks and read back whole, through the writer thread', async (t) => {
  const count = 300_000;
  const orders = Array.from({ length: count }, (_, i) => [1_000_000 + i, confirmed, 1_700_000_000_000 + i, 0]);
  const cut = books(7, count + 10, 10, orders, orders.map((o) => [o[0]!, 1]));
  const transfer = [cut.orderUser, cut.orderState, cut.orderCreatedAt, cut.orderPayBy, cut.holders]
    .map((a) => a.buffer as ArrayBuffer);
  const file = await writeSnapshotInThread(job('big.json', [cut]), transfer);
  t.ok(transfer.every((buffer) => buffer.byteLength === 0),
    'the copies were handed over, not copied (the buffers are detached here)');
  t.ok(fs.statSync(file).size > 4 << 20, 'the file is several 1 MiB chunks long');
  const read = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    shards: { items: { orders: unknown[][]; holdings: number[][] }[] }[];
  };
  const item = read.shards[0]!.items[0]!;
  t.equal(item.orders.length, count);
  t.same(item.orders[count - 1],
    [7 * TWO_POW_32 + count, 1_000_000 + count - 1, 'confirmed', 1_700_000_000_000 + count - 1, null],
    'the last order');
  t.equal(item.holdings.length, count);
});

t.test('the writer thread reports a failure instead of a path', async (t) => {
  const wrong = books(1, 5, 3, [[10, confirmed, 1000, 0]], [[10, 1]]);
  await t.rejects(writeSnapshotInThread(job('thread-wrong.json', [wrong]), []), /snapshot writer: .*does not balance/);
  t.notOk(fs.existsSync(path.join(dir, 'thread-wrong.json')));
});

t.test('pruneSnapshots keeps the newest N finished files, removes stale .tmp files, and leaves other files alone',
  async (t) => {
  const dataDir = fs.mkdtempSync(path.join(dir, 'prune-'));
  const snapshots = path.join(dataDir, 'snapshots');
  fs.mkdirSync(snapshots);
  const times = ['2026-12-02T03-51-42-123Z', '2026-12-02T03-51-42-124Z', '2026-12-02T04-00-00-000Z',
    '2026-12-03T00-00-00-000Z', '2027-01-01T00-00-00-000Z'];
  const names = times.map((time) => `snapshot-${time}.json`);
  for (const name of [...names, 'snapshot-2026-12-01T00-00-00-000Z.json.tmp', 'notes.txt']) {
    fs.writeFileSync(path.join(snapshots, name), '{}');
  }
  t.same(pruneSnapshots(dataDir, 2).sort(), [...names.slice(0, 3), 'snapshot-2026-12-01T00-00-00-000Z.json.tmp'].sort(),
    'the oldest three and the .tmp');
  t.same(fs.readdirSync(snapshots).sort(), [...names.slice(3), 'notes.txt'].sort(),
    'the newest two and the unrelated file remain');
  t.same(pruneSnapshots(dataDir, 2), [], 'nothing more at the bound');
  t.same(pruneSnapshots(dataDir, 0), [], '0 keeps every snapshot');
  t.same(pruneSnapshots(dataDir, 1), [names[3]], 'keep 1: the newest stays');
  const early = 'snapshot-2020-01-01T00-00-00-000Z.json';
  fs.writeFileSync(path.join(snapshots, early), '{}');
  t.same(pruneSnapshots(dataDir, 1, early), [names[4]],
    'the file just written counts as the newest, whatever its name (a clock set back)');
  t.same(fs.readdirSync(snapshots).sort(), [early, 'notes.txt'].sort());
});
