// One record of the write-behind log: 48 bytes, fixed size, little-endian,
// checksummed, so a torn last record is recognised and dropped at replay.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------
//        0     4  crc32 of bytes 4..47
//        4     1  type: 1 won, 2 paid, 3 cancelled, 4 expired, 5 entered, 6 waitlisted
//        5     1  state of the order after this record (ORDER_STATE); 0 for
//                 entered; for waitlisted, of the waitlist place (PLACE_STATE)
//        6     1  flags: FLAG_KEY, FLAG_PLACE, or zero
//        7     1  zero
//        8     8  f64 order id (item row * 2^32 + sequence within the item)
//       16     8  f64 user id
//       24     8  f64 time of the event, epoch ms; with FLAG_KEY instead
//                 the buy's idempotency key (0: none), with FLAG_PLACE
//                 the waitlist place the order was offered to, see below
//       32     8  f64 payBy, epoch ms; 0 when the order has none
//       40     8  f64 createdAt of the order, epoch ms
//
// A won record's event time is its order's createdAt, so offset 24 would
// say it twice; it carries the buy's idempotency key instead (FLAG_KEY,
// set on every won record this build writes), and the key reaches SQLite in
// the same record as the order it won: after a kill -9 both are there or
// neither is. A won record without FLAG_KEY was written by an earlier build
// and has the time at 24 and no key. Readers see `timeMs` as the event time
// either way, and `key`.
//
// A won record with FLAG_PLACE is a waitlist offer (engine/waitlist-queue.ts):
// a unit that came back went to that place as a new reservation, and the
// place is marked offered in the same transaction as the order is inserted.
// A waitlisted record is a waitlist place: its "order id" is
// orderIdOf(item row, place), an id no order has, its user the place's, its
// time the join's; state PLACE_STATE.waiting when the user joins,
// PLACE_STATE.dropped when the place is skipped (its user holds the limit).
//
// An entered record is an entry into an item's fair start window
// (engine/fair-window.ts), not an order: offset 8 holds the item's row and
// the entrant's number (as an order id holds row and sequence), 32 the time
// the window closes (drawAt), and, as in a won record, 24 the entry's
// idempotency key (FLAG_KEY) with the time at 40.
//
// A record says what the order is after it; replaying a record twice gives
// the same row, so replay is idempotent as well as exactly-once by offset.

import assert from 'node:assert/strict';
import { IDEMPOTENCY_KEY_MAX, LOG_RECORD_BYTES } from './log-constants';
import { TWO_POW_32 } from './order-id';

export const RECORD_TYPE = { won: 1, paid: 2, cancelled: 3, expired: 4, entered: 5, waitlisted: 6 } as const;
export type RecordType = (typeof RECORD_TYPE)[keyof typeof RECORD_TYPE];
/** Each record type's name, indexed by type: what the outcome stream and the reconcile script call it. */
export const RECORD_TYPE_NAMES = ['', 'won', 'paid', 'cancelled', 'expired', 'entered', 'waitlisted'] as const;
for (const [name, type] of Object.entries(RECORD_TYPE)) assert.equal(RECORD_TYPE_NAMES[type], name);

export const ORDER_STATE = { reserved: 1, paid: 2, confirmed: 3, expired: 4, cancelled: 5 } as const;
export type OrderState = (typeof ORDER_STATE)[keyof typeof ORDER_STATE];
export const ORDER_STATE_NAMES = ['', 'reserved', 'paid', 'confirmed', 'expired', 'cancelled'] as const;

/** States in which an order holds a unit of stock. */
export function holdsUnit(state: number): boolean {
  return state === ORDER_STATE.reserved || state === ORDER_STATE.paid || state === ORDER_STATE.confirmed;
}

/** Flag of byte 6: offset 24 holds the idempotency key, and the event time is createdAt (won records only). */
export const FLAG_KEY = 1;
/** Flag of byte 6: offset 24 holds the waitlist place offered the order, and the event time is createdAt (won only). */
export const FLAG_PLACE = 2;

/** What a waitlisted record says its place is after it. */
export const PLACE_STATE = { waiting: 1, dropped: 2 } as const;

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 (IEEE) of bytes[start, end). */
export function crc32(bytes: Uint8Array, start: number, end: number): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

export interface LogRecord {
  type: number;
  state: number;
  orderId: number;
  userId: number;
  timeMs: number;
  payBy: number;
  createdAt: number;
  /** The idempotency key of the buy that won the order, 0 for none (and for every other type). */
  key: number;
  /** The waitlist place a won order was offered to (FLAG_PLACE), 0 for none (and for every other type). */
  place: number;
}

/** Whether a record of `type` makes or changes an order (fair-window entries and waitlist places do not). */
export function isOrderRecord(type: number): boolean {
  return type >= RECORD_TYPE.won && type <= RECORD_TYPE.expired;
}

/** Record types whose offset 24 holds a key or a place (a flag says which) and whose event time is at 40. */
function carriesKey(type: number): boolean {
  return type === RECORD_TYPE.won || type === RECORD_TYPE.entered;
}

function isValidState(type: number, state: number): boolean {
  if (type === RECORD_TYPE.entered) return state === 0;
  if (type === RECORD_TYPE.waitlisted) return state === PLACE_STATE.waiting || state === PLACE_STATE.dropped;
  return isOrderRecord(type) && state >= 1 && state <= 5;
}

function isValidRecord(type: number, state: number, orderId: number, userId: number, key: number,
  place: number): boolean {
  return isValidState(type, state) &&
    Number.isSafeInteger(orderId) && orderId > 0 && Number.isSafeInteger(userId) && userId > 0 &&
    Number.isSafeInteger(key) && key >= 0 && key <= IDEMPOTENCY_KEY_MAX && (key === 0 || carriesKey(type)) &&
    Number.isSafeInteger(place) && place >= 0 && place < TWO_POW_32 &&
    (place === 0 || (type === RECORD_TYPE.won && key === 0));
}

/**
 * Writes a record from its fields at `offset` of `view`'s buffer (`bytes` is
 * the same memory). The one encoder of the layout above: the shard's log
 * calls it per decision, so it takes fields rather than an object.
 */
export function encodeFields(view: DataView, bytes: Uint8Array, offset: number, type: number, state: number,
  orderId: number, userId: number, timeMs: number, payBy: number, createdAt: number, key: number, place = 0): void {
  // Paired with the check in decodeRecord: a record that would not decode must never be written.
  assert.ok(isValidRecord(type, state, orderId, userId, key, place), 'log record to write is invalid');
  const won = carriesKey(type);
  // A won or entered record keeps its time only at 40: they must be one.
  assert.ok(!won || timeMs === createdAt, 'a won record\'s time is its createdAt');
  view.setUint8(offset + 4, type);
  view.setUint8(offset + 5, state);
  view.setUint8(offset + 6, won ? (place > 0 ? FLAG_PLACE : FLAG_KEY) : 0);
  view.setUint8(offset + 7, 0);
  view.setFloat64(offset + 8, orderId, true);
  view.setFloat64(offset + 16, userId, true);
  view.setFloat64(offset + 24, won ? (place > 0 ? place : key) : timeMs, true);
  view.setFloat64(offset + 32, payBy, true);
  view.setFloat64(offset + 40, createdAt, true);
  view.setUint32(offset, crc32(bytes, offset + 4, offset + LOG_RECORD_BYTES), true);
}

/** Writes `record` at `offset` of `view`'s buffer. */
export function encodeRecord(view: DataView, bytes: Uint8Array, offset: number, record: LogRecord): void {
  const { type, state, orderId, userId, timeMs, payBy, createdAt, key, place } = record;
  encodeFields(view, bytes, offset, type, state, orderId, userId, timeMs, payBy, createdAt, key, place);
}

/** Reads the record at `offset` into `out`; false when its checksum or fields are wrong (torn or corrupt). */
export function decodeRecord(view: DataView, bytes: Uint8Array, offset: number, out: LogRecord): boolean {
  if (view.getUint32(offset, true) !== crc32(bytes, offset + 4, offset + LOG_RECORD_BYTES)) return false;
  out.type = view.getUint8(offset + 4);
  out.state = view.getUint8(offset + 5);
  const flags = view.getUint8(offset + 6);
  out.orderId = view.getFloat64(offset + 8, true);
  out.userId = view.getFloat64(offset + 16, true);
  out.payBy = view.getFloat64(offset + 32, true);
  out.createdAt = view.getFloat64(offset + 40, true);
  const keyed = flags === FLAG_KEY;
  const placed = flags === FLAG_PLACE;
  out.key = keyed ? view.getFloat64(offset + 24, true) : 0;
  out.place = placed ? view.getFloat64(offset + 24, true) : 0;
  out.timeMs = keyed || placed ? out.createdAt : view.getFloat64(offset + 24, true);
  return (flags === 0 || (keyed && carriesKey(out.type)) || (placed && out.place > 0 && out.type === RECORD_TYPE.won))
    && view.getUint8(offset + 7) === 0
    && isValidRecord(out.type, out.state, out.orderId, out.userId, out.key, out.place);
}

/**
 * Decodes the good records at the start of `bytes` (a segment's contents),
 * stopping at the first that does not decode or is cut short, and returns how
 * many there were. `visit`, if given, sees each in turn in one reused object.
 */
export function decodeLeadingRecords(bytes: Uint8Array, visit?: (record: LogRecord, index: number) => void): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const record = emptyRecord();
  const whole = Math.floor(bytes.length / LOG_RECORD_BYTES);
  let valid = 0;
  while (valid < whole && decodeRecord(view, bytes, valid * LOG_RECORD_BYTES, record)) {
    visit?.(record, valid);
    valid++;
  }
  return valid;
}

export function emptyRecord(): LogRecord {
  return { type: 0, state: 0, orderId: 0, userId: 0, timeMs: 0, payBy: 0, createdAt: 0, key: 0, place: 0 };
}
