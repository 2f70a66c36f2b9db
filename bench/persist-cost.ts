// What the persistence thread pays per log record: LogApplier applying a
// sale's records to a fresh SQLite database in batches of
// PERSIST_BATCH_RECORDS_MAX, as the persistence worker does, in process
// (no engine, no log files). 80 % of the records are wins, the rest pay,
// cancel or expire earlier wins, over 10 item rows. Reports the median over
// runs of wall time and CPU time per record.
//
// `--baseline FILE` names another build's compiled log-applier.js (e.g. the
// main branch's dist/persistence/log-applier.js) to measure in the same
// process, runs alternating, on a database with the same schema: the
// before/after of a change to the applier, such as the outcome stream's
// event row per record.
//
//   node dist/bench/persist-cost.js [--records N] [--runs N] [--baseline FILE]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase, type Db } from '../persistence/database';
import { LogApplier } from '../persistence/log-applier';
import { LOG_RECORD_BYTES, PERSIST_BATCH_RECORDS_MAX } from '../persistence/log-constants';
import { encodeFields, ORDER_STATE, RECORD_TYPE } from '../persistence/log-record';
import { orderIdOf } from '../persistence/order-id';

interface Applier {
  apply(segment: string, bytes: Buffer, count: number, firstRecord: number): void;
}
type ApplierClass = new (db: Db) => Applier;

const ITEM_ROWS = 10;
const T0 = 1_700_000_000_000;

/** A sale's records: wins, and for every fourth win a later paid, cancelled or expired record. */
function saleRecords(count: number): Buffer {
  const bytes = Buffer.alloc(count * LOG_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const changes = [
    [RECORD_TYPE.paid, ORDER_STATE.paid], [RECORD_TYPE.cancelled, ORDER_STATE.cancelled],
    [RECORD_TYPE.expired, ORDER_STATE.expired],
  ] as const;
  let wins = 0;
  for (let i = 0; i < count; i++) {
    const later = i % 5 === 4;
    const sequence = later ? wins - 2 : ++wins;
    const orderId = orderIdOf(1 + (sequence % ITEM_ROWS), sequence);
    const createdAt = T0 + sequence;
    const [type, state] = later ? changes[i % 3]! : [RECORD_TYPE.won, ORDER_STATE.reserved];
    encodeFields(view, bytes, i * LOG_RECORD_BYTES, type, state, orderId, 1000 + sequence,
      later ? createdAt + 500 : createdAt, createdAt + 60_000, createdAt, type === RECORD_TYPE.won ? sequence : 0);
  }
  return bytes;
}

/** One run: a fresh database, every record applied in batches; µs per record, wall and CPU. */
function run(Applier: ApplierClass, records: Buffer, count: number): { wallUs: number; cpuUs: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-persist-cost-'));
  const db = openDatabase(dir, { fsync: false });
  try {
    const applier = new Applier(db);
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let first = 0; first < count; first += PERSIST_BATCH_RECORDS_MAX) {
      const batch = Math.min(PERSIST_BATCH_RECORDS_MAX, count - first);
      applier.apply('bench', records.subarray(first * LOG_RECORD_BYTES), batch, first);
    }
    const wallNs = Number(process.hrtime.bigint() - started);
    const used = process.cpuUsage(cpu);
    return { wallUs: wallNs / 1000 / count, cpuUs: (used.user + used.system) / count };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function main(): void {
  const { values } = parseArgs({ options: {
    records: { type: 'string', default: '200000' }, runs: { type: 'string', default: '5' },
    baseline: { type: 'string' },
  } });
  const count = Number(values.records);
  const runs = Number(values.runs);
  const records = saleRecords(count);
  const appliers: [string, ApplierClass][] = [['this build', LogApplier]];
  if (values.baseline) {
    const baseline = (require(path.resolve(values.baseline)) as { LogApplier: ApplierClass }).LogApplier;
    appliers.unshift(['baseline', baseline]);
  }
  const results = new Map(appliers.map(([name]) => [name, { wall: [] as number[], cpu: [] as number[] }]));
  run(LogApplier, records, Math.min(count, 20_000));
  for (let i = 0; i < runs; i++) {
    for (const [name, Applier] of appliers) {
      const { wallUs, cpuUs } = run(Applier, records, count);
      results.get(name)!.wall.push(wallUs);
      results.get(name)!.cpu.push(cpuUs);
    }
  }
  process.stdout.write(`${count} records per run, ${runs} runs, medians (µs per record)\n`);
  for (const [name, { wall, cpu }] of results) {
    process.stdout.write(`${name.padEnd(12)} wall ${median(wall).toFixed(2)}  cpu ${median(cpu).toFixed(2)}` +
      `  (wall runs: ${wall.map((w) => w.toFixed(2)).join(', ')})\n`);
  }
}

main();
