// Proves the write-behind log's record format: crc32 is the IEEE CRC-32 (the
// standard check value for "123456789"), a record encodes and decodes to the
// same fields, every single-bit and single-byte change anywhere in the 48
// bytes makes decode fail, a record with a good checksum but impossible
// fields is refused on decode and on encode, and the order id helpers split
// row * 2^32 + sequence back into its parts up to the largest row and
// sequence the constants allow, an item's id range is exactly its orders, and
// decodeLeadingRecords stops at the first bad record.

import Database from 'better-sqlite3';
import t from 'tap';
import { AssertionError } from 'node:assert';
import { ITEM_ROW_MAX, ORDERS_PER_ITEM_MAX } from '../../engine/constants';
import { LOG_RECORD_BYTES } from '../../persistence/log-constants';
import {
  crc32, decodeLeadingRecords, decodeRecord, emptyRecord, encodeFields, encodeRecord, FLAG_KEY, FLAG_PLACE, holdsUnit,
  ORDER_STATE, PLACE_STATE, RECORD_TYPE, type LogRecord,
} from '../../persistence/log-record';
import { itemRowOf, itemRowSql, orderIdOf, orderIdRange, sequenceOf, sequenceSql } from '../../persistence/order-id';

function sampleRecord(): LogRecord {
  return {
    type: RECORD_TYPE.paid,
    state: ORDER_STATE.paid,
    orderId: orderIdOf(ITEM_ROW_MAX, ORDERS_PER_ITEM_MAX),
    userId: Number.MAX_SAFE_INTEGER,
    timeMs: 1_700_000_000_123,
    payBy: 1_700_000_900_000,
    createdAt: 1_700_000_000_000,
    key: 0,
    place: 0,
  };
}

function encoded(record: LogRecord, at = 0): { bytes: Buffer; view: DataView } {
  const bytes = Buffer.alloc(at + LOG_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  encodeRecord(view, bytes, at, record);
  return { bytes, view };
}

t.test('crc32 of "123456789" is the standard check value 0xCBF43926', async (t) => {
  const bytes = Buffer.from('xx123456789yy');
  t.equal(crc32(bytes, 2, 11), 0xcbf43926, 'only bytes [start, end) count');
  t.equal(crc32(Buffer.from(''), 0, 0), 0, 'the CRC of nothing is 0');
  t.equal(crc32(Buffer.from('The quick brown fox jumps over the lazy dog'), 0, 43), 0x414fa339);
});

t.test('a record round-trips through encode and decode at any offset', async (t) => {
  const record = sampleRecord();
  const { bytes, view } = encoded(record, 96);
  const out = emptyRecord();
  t.equal(decodeRecord(view, bytes, 96, out), true);
  t.same(out, record);
  t.equal(view.getUint16(96 + 6, true), 0, 'the padding bytes are zero');
  t.equal(view.getUint32(96, true), crc32(bytes, 100, 144), 'the first 4 bytes are the CRC of the other 44');
});

t.test('every record type and state round-trips, with payBy 0 for orders without one', async (t) => {
  const out = emptyRecord();
  for (const type of Object.values(RECORD_TYPE)) {
    // A waitlisted record's state is its place's (PLACE_STATE), an entry into a
    // fair window has none (0), every other type's is its order's.
    const states = type === RECORD_TYPE.waitlisted ? Object.values(PLACE_STATE)
      : type === RECORD_TYPE.entered ? [0] : Object.values(ORDER_STATE);
    for (const state of states) {
      const record: LogRecord = { type, state, orderId: orderIdOf(1, 1), userId: 1, timeMs: 0, payBy: 0, createdAt: 0,
        key: 0, place: 0 };
      const { bytes, view } = encoded(record);
      t.ok(decodeRecord(view, bytes, 0, out) && out.type === type && out.state === state && out.payBy === 0,
        `type ${type} state ${state}`);
    }
  }
});

t.test('changing any bit or any byte of a record makes decode refuse it', async (t) => {
  const { bytes } = encoded(sampleRecord());
  const out = emptyRecord();
  const accepted: string[] = [];
  let tried = 0;
  for (let position = 0; position < LOG_RECORD_BYTES; position++) {
    const changes = [0xff, 0x80, 0x01, 0x10, 0x55];
    for (let bit = 0; bit < 8; bit++) changes.push(1 << bit);
    for (const mask of changes) {
      const copy = Buffer.from(bytes);
      copy[position]! ^= mask;
      if (decodeRecord(new DataView(copy.buffer, copy.byteOffset, copy.byteLength), copy, 0, out)) {
        accepted.push(`byte ${position} ^ ${mask}`);
      }
      tried++;
    }
  }
  t.equal(tried, LOG_RECORD_BYTES * 13);
  t.same(accepted, [], 'no changed record was accepted');
  t.ok(decodeRecord(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes, 0, out),
    'the original still decodes');
});

t.test('a record of zeros (a hole in the file) does not decode', async (t) => {
  const bytes = Buffer.alloc(LOG_RECORD_BYTES);
  t.equal(decodeRecord(new DataView(bytes.buffer), bytes, 0, emptyRecord()), false);
});

t.test('decode refuses a record whose checksum is right but whose fields are impossible', async (t) => {
  const cases: Array<[string, Partial<LogRecord>]> = [
    ['type 0', { type: 0 }],
    ['type 5', { type: 5 }],
    ['state 0', { state: 0 }],
    ['state 6', { state: 6 }],
    ['order id 0', { orderId: 0 }],
    ['fractional order id', { orderId: 1.5 }],
    ['order id 2^53', { orderId: 2 ** 53 }],
    ['user id 0', { userId: 0 }],
    ['negative user id', { userId: -3 }],
    ['user id 2^53', { userId: 2 ** 53 }],
  ];
  for (const [name, change] of cases) {
    const record = { ...sampleRecord(), ...change };
    // Write the fields and a correct CRC by hand: encodeRecord would refuse them.
    const bytes = Buffer.alloc(LOG_RECORD_BYTES);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint8(4, record.type);
    view.setUint8(5, record.state);
    view.setFloat64(8, record.orderId, true);
    view.setFloat64(16, record.userId, true);
    view.setUint32(0, crc32(bytes, 4, LOG_RECORD_BYTES), true);
    t.equal(decodeRecord(view, bytes, 0, emptyRecord()), false, `decode refuses ${name}`);
    t.throws(() => encodeRecord(view, bytes, 0, record), AssertionError, `encode refuses ${name}`);
  }
});

t.test('order ids are row * 2^32 + sequence and split back into row and sequence', async (t) => {
  const cases: Array<[number, number]> = [[1, 1], [1, ORDERS_PER_ITEM_MAX], [2, 1], [ITEM_ROW_MAX, 1],
    [ITEM_ROW_MAX, ORDERS_PER_ITEM_MAX], [12345, 67890]];
  for (const [row, sequence] of cases) {
    const id = orderIdOf(row, sequence);
    t.equal(id, row * 4294967296 + sequence);
    t.ok(Number.isSafeInteger(id), `row ${row} sequence ${sequence} is a safe integer`);
    t.equal(itemRowOf(id), row, `row of ${id}`);
    t.equal(sequenceOf(id), sequence, `sequence of ${id}`);
  }
  t.equal(orderIdOf(ITEM_ROW_MAX, ORDERS_PER_ITEM_MAX), Number.MAX_SAFE_INTEGER,
    'the largest order id is exactly 2^53 - 1');
  t.not(orderIdOf(1, ORDERS_PER_ITEM_MAX), orderIdOf(2, 0), 'the last sequence of a row does not reach the next row');
});

t.test('holdsUnit is true exactly for reserved, paid and confirmed', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6].map(holdsUnit), [false, true, true, true, false, false, false]);
});

t.test('an item\'s order id range holds exactly its orders; SQL splits ids as the functions do', async (t) => {
  for (const row of [1, 2, 12345, ITEM_ROW_MAX]) {
    const range = orderIdRange(row);
    const expected = { first: orderIdOf(row, 0), last: orderIdOf(row, ORDERS_PER_ITEM_MAX) };
    t.same(range, expected, `row ${row}: sequence 0 to the last`);
    t.equal(itemRowOf(range.first), row);
    t.equal(itemRowOf(range.last), row);
    if (row > 1) t.equal(orderIdRange(row - 1).last + 1, range.first, `row ${row} starts right after row ${row - 1}`);
  }
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  // As in the orders table: the id is an INTEGER PRIMARY KEY, so SQLite divides integers.
  db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY)');
  const ids = [orderIdOf(1, 1), orderIdOf(7, ORDERS_PER_ITEM_MAX), orderIdOf(ITEM_ROW_MAX, 3)];
  for (const id of ids) db.prepare('INSERT INTO orders (id) VALUES (?)').run(id);
  const split = db.prepare(`SELECT ${itemRowSql('id')} AS row, ${sequenceSql('id')} AS sequence ` +
    'FROM orders ORDER BY id');
  const expected = ids.map((id) => ({ row: itemRowOf(id), sequence: sequenceOf(id) }));
  t.same(split.all(), expected, 'SQLite splits each id as the functions do');
});

t.test('decodeLeadingRecords stops at the first bad or cut record and visits each good one', async (t) => {
  const bytes = Buffer.alloc(4 * LOG_RECORD_BYTES + 20);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let index = 0; index < 4; index++) {
    const orderId = orderIdOf(1, index + 1);
    encodeFields(view, bytes, index * LOG_RECORD_BYTES, RECORD_TYPE.won, ORDER_STATE.confirmed, orderId, 10 + index,
      5, 0, 5, 0);
  }
  const seen: number[] = [];
  const count = decodeLeadingRecords(bytes, (record, index) => seen.push(index, record.userId));
  t.equal(count, 4, 'four whole records; the 20 bytes after are no record');
  t.same(seen, [0, 10, 1, 11, 2, 12, 3, 13]);
  bytes[2 * LOG_RECORD_BYTES + 9]! ^= 1;
  t.equal(decodeLeadingRecords(bytes), 2, 'a damaged third record ends the good ones');
  t.equal(decodeLeadingRecords(Buffer.alloc(0)), 0);
});

t.test('a won record carries its idempotency key where the time was, the time being its createdAt', async (t) => {
  const won: LogRecord = { ...sampleRecord(), type: RECORD_TYPE.won, state: ORDER_STATE.reserved,
    timeMs: 1_700_000_000_000, key: 2 ** 52 };
  const { bytes, view } = encoded(won);
  const out = emptyRecord();
  t.ok(decodeRecord(view, bytes, 0, out));
  t.same(out, won, 'round-trips, key and time');
  t.equal(view.getUint8(6), FLAG_KEY, 'flagged as carrying the key');
  t.equal(view.getFloat64(24, true), 2 ** 52, 'the key at offset 24');
  const none = encoded({ ...won, key: 0 });
  t.ok(decodeRecord(none.view, none.bytes, 0, out) && out.key === 0 && out.timeMs === won.createdAt, 'no key: 0');
  t.throws(() => encoded({ ...won, timeMs: won.createdAt + 1 }), 'a won record\'s time must be its createdAt');
  t.throws(() => encoded({ ...sampleRecord(), key: 5 }), 'only a won record carries a key');
  t.throws(() => encoded({ ...won, key: 2 ** 52 + 1 }), 'keys stop at 2^52');
  t.throws(() => encoded({ ...won, key: 1.5 }), 'keys are integers');
});

t.test('a won record of an earlier build (no flag) reads its time at offset 24 and no key', async (t) => {
  const bytes = Buffer.alloc(LOG_RECORD_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint8(4, RECORD_TYPE.won);
  view.setUint8(5, ORDER_STATE.confirmed);
  view.setFloat64(8, orderIdOf(1, 1), true);
  view.setFloat64(16, 9, true);
  view.setFloat64(24, 1_700_000_000_000, true);
  view.setFloat64(40, 1_700_000_000_000, true);
  view.setUint32(0, crc32(bytes, 4, LOG_RECORD_BYTES), true);
  const out = emptyRecord();
  t.ok(decodeRecord(view, bytes, 0, out));
  t.same([out.timeMs, out.createdAt, out.key], [1_700_000_000_000, 1_700_000_000_000, 0]);
  view.setUint8(6, 2);
  view.setUint32(0, crc32(bytes, 4, LOG_RECORD_BYTES), true);
  t.notOk(decodeRecord(view, bytes, 0, out), 'an unknown flag is refused, even with a good checksum');
});

t.test('a waitlist offer is a won record with FLAG_PLACE: the place at offset 24, time its createdAt', async (t) => {
  const offer: LogRecord = { ...sampleRecord(), type: RECORD_TYPE.won, state: ORDER_STATE.reserved,
    timeMs: 1_700_000_000_000, place: 4_294_967_295 };
  const { bytes, view } = encoded(offer);
  const out = emptyRecord();
  t.ok(decodeRecord(view, bytes, 0, out));
  t.same(out, offer, 'round-trips, place and time');
  t.equal(view.getUint8(6), FLAG_PLACE, 'flagged as carrying a place');
  t.equal(view.getFloat64(24, true), 4_294_967_295, 'the place at offset 24');
  t.throws(() => encoded({ ...offer, place: 2 ** 32 }), 'places stop below 2^32');
  t.throws(() => encoded({ ...offer, key: 7 }), 'an offer carries no idempotency key: both use offset 24');
  t.throws(() => encoded({ ...sampleRecord(), place: 3 }), 'only a won record names a place');
  const keyed = encoded({ ...offer, place: 0, key: 12 });
  t.ok(decodeRecord(keyed.view, keyed.bytes, 0, out) && out.key === 12 && out.place === 0,
    'a keyed won record still reads its key, and no place');
  // A FLAG_PLACE byte on a paid record, with a right checksum, is refused.
  const paid = encoded(sampleRecord());
  paid.view.setUint8(6, FLAG_PLACE);
  paid.view.setUint32(0, crc32(paid.bytes, 4, LOG_RECORD_BYTES), true);
  t.notOk(decodeRecord(paid.view, paid.bytes, 0, out), 'FLAG_PLACE on another type is refused');
});

t.test('a waitlisted record names its place as an order id and says waiting or dropped', async (t) => {
  const out = emptyRecord();
  for (const state of Object.values(PLACE_STATE)) {
    const place: LogRecord = { type: RECORD_TYPE.waitlisted, state, orderId: orderIdOf(9, 20), userId: 31,
      timeMs: 1_700_000_000_500, payBy: 0, createdAt: 1_700_000_000_500, key: 0, place: 0 };
    const { bytes, view } = encoded(place);
    t.ok(decodeRecord(view, bytes, 0, out));
    t.same(out, place, `state ${state} round-trips`);
    t.equal(view.getUint8(6), 0, 'no flag');
  }
  const bad: LogRecord = { type: RECORD_TYPE.waitlisted, state: ORDER_STATE.confirmed, orderId: orderIdOf(9, 20),
    userId: 31, timeMs: 1, payBy: 0, createdAt: 1, key: 0, place: 0 };
  t.throws(() => encoded(bad), AssertionError, 'an order state is no place state');
});
