// The outcome stream as the shop reads it: the `events` table (one row per
// applied log record, written by log-applier.ts in the record's own
// transaction) turned into numbered events. An event's offset is its row's
// seq: it is given once, when the record is applied, and never changes, so a
// consumer that resumes after the last offset it has seen misses nothing and
// sees nothing twice. GET /admin/events and the webhook sender both read
// here, and this is the one place a record's type becomes an event's name.

import type { Db } from './database';
import { ORDER_STATE_NAMES, PLACE_STATE, RECORD_TYPE, RECORD_TYPE_NAMES, type LogRecord } from './log-record';
import { sequenceOf } from './order-id';

/**
 * The event's name: the record type's, except that a won record made by a
 * waitlist offer (it carries a waitlist place) is an `offered` event.
 */
export function eventName(type: number, place: number | null): string {
  if (type === RECORD_TYPE.won && place !== null) return 'offered';
  const name = RECORD_TYPE_NAMES[type];
  // Records are checked before they are applied: an unnamed type is a bug.
  if (name === undefined || name === '') throw new Error(`no event name for record type ${type}`);
  return name;
}

/**
 * The waitlist place a record names, kept in the event's `place` column: a
 * won record made by a waitlist offer carries it (FLAG_PLACE), and a
 * waitlisted record is a place (its order id field is the item row and the
 * place, log-record.ts). Null for every other record.
 */
export function eventPlaceOf(record: LogRecord): number | null {
  if (record.type === RECORD_TYPE.waitlisted) return sequenceOf(record.orderId);
  return record.place > 0 ? record.place : null;
}

/** One event as the stream and the webhook send it. */
export interface OutcomeEvent {
  offset: number;
  type: string;
  /** The order id as a string, as every other answer gives it; null for an entry into a fair window. */
  order: string | null;
  /** The item's id; null once the item was deleted. */
  item: string | null;
  user: number;
  state: string;
  /** When it happened, epoch ms: the order's createdAt for a won event. */
  at: number;
  payBy: number | null;
  /** On an `offered` event the waitlist place the offer went to; on a `waitlisted` one the place itself. */
  place?: number;
  /** Only on an `entered` event: when the fair window is drawn. */
  drawAt?: number;
}

type EventRow = [number, number, number, number, string | null, number, number, number | null, number | null];

/** Reads events from the table on one connection; statements prepared once. */
export class EventReader {
  private readonly page;
  private readonly last;

  constructor(db: Db) {
    this.page = db.prepare(`SELECT e.seq, e.type, e.state, e.order_id, i.id, e.user_id, e.at, e.pay_by, e.place
      FROM events e LEFT JOIN items i ON i.row = e.item_row WHERE e.seq > ? ORDER BY e.seq LIMIT ?`).raw();
    this.last = db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM events').pluck();
  }

  /** The offset of the newest event in the table (0 when there is none). */
  head(): number {
    return this.last.get() as number;
  }

  /** Up to `limit` events with an offset above `after`, oldest first. */
  after(after: number, limit: number): OutcomeEvent[] {
    const rows = this.page.all(after, limit) as EventRow[];
    return rows.map(([seq, type, state, orderId, item, user, at, payBy, place]) => {
      const event: OutcomeEvent = {
        offset: seq, type: eventName(type, place), order: String(orderId), item, user,
        state: ORDER_STATE_NAMES[state] ?? String(state), at, payBy,
      };
      if (place !== null) event.place = place;
      // An entry into a fair window is no order: its record holds the row
      // and entrant number as the order id, and the draw's time as payBy.
      if (type === RECORD_TYPE.entered) {
        Object.assign(event, { order: null, state: 'entered', payBy: null, drawAt: payBy });
      }
      // A waitlist place is no order either: its state is the place's, waiting (a join) or dropped (skipped).
      if (type === RECORD_TYPE.waitlisted) {
        const placeState = state === PLACE_STATE.dropped ? 'dropped' : 'waiting';
        Object.assign(event, { order: null, state: placeState, payBy: null });
      }
      return event;
    });
  }
}

/** Events as NDJSON: one JSON object per line, each line ended. */
export function eventLines(events: readonly OutcomeEvent[]): string {
  let text = '';
  for (const event of events) text += JSON.stringify(event) + '\n';
  return text;
}
