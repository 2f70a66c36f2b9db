// The state of one item inside the shard that owns it: stock left, units
// held per user (HoldingsTable) and its orders, as parallel typed arrays
// indexed by the order's sequence within the item (1, 2, 3, ...). Only the
// owning shard's thread touches a book.

import assert from 'node:assert/strict';
import { readFairEntries, type Db } from '../persistence/database';
import { holdsUnit, ORDER_STATE } from '../persistence/log-record';
import { orderIdOf, orderIdRange } from '../persistence/order-id';
import { FairWindow } from './fair-window';
import { HoldingsTable } from './holdings-table';
import type { StoredItem } from '../persistence/database';
import { loadWaitlist, WaitlistQueue } from './waitlist-queue';

const ORDER_SLOTS_MIN = 16;

/**
 * Item settings that admins may change between rounds, in a Float64Array
 * shared by the HTTP thread (the one writer) and the shards (readers).
 */
export const SETTING = { endsAt: 0, perUserLimit: 1, payWindowMs: 2, drawAt: 3, waitlist: 4 } as const;
export const SETTING_FIELDS = 8;

/** When the item's fair window closes and its entrants are drawn (fair-window.ts); 0 for an item without one. */
export function drawAtOf(item: Pick<StoredItem, 'startsAt' | 'fairWindowMs'>): number {
  return item.fairWindowMs > 0 ? item.startsAt + item.fairWindowMs : 0;
}

export function writeSettings(settings: Float64Array, globalIndex: number,
  item: Pick<StoredItem, 'endsAt' | 'perUserLimit' | 'payWindowSec' | 'startsAt' | 'fairWindowMs' | 'waitlist'>,
): void {
  const at = globalIndex * SETTING_FIELDS;
  settings[at + SETTING.endsAt] = item.endsAt;
  settings[at + SETTING.perUserLimit] = item.perUserLimit;
  settings[at + SETTING.payWindowMs] = item.payWindowSec * 1000;
  settings[at + SETTING.waitlist] = item.waitlist === true ? 1 : 0;
  settings[at + SETTING.drawAt] = drawAtOf(item);
}
/** Order arrays start at most this large and double as needed, so a huge stock costs memory only as it sells. */
const ORDER_SLOTS_INITIAL_MAX = 65_536;

export class ItemBook {
  readonly row: number;
  stock: number;
  left: number;
  reserve: boolean;
  readonly holdings: HoldingsTable;
  /** Highest order sequence used; the next order gets orderCount + 1. */
  orderCount = 0;
  orderUser: Float64Array;
  orderState: Uint8Array;
  orderCreatedAt: Float64Array;
  orderPayBy: Float64Array;
  /** Oldest sequence that may still be reserved: where the expiry sweep starts. */
  expiryCursor = 1;
  /** The item's waitlist, made at its first join (or at load, when it has places); null before. */
  waitlist: WaitlistQueue | null = null;
  /** The entrants of the item's fair window, from its first entry on (null: nobody entered). */
  fair: FairWindow | null = null;

  /** Where this item's settings start in `settings`. */
  private readonly settingsAt: number;

  /**
   * `settings` holds the item's end, per-user limit and pay window, written
   * by the HTTP thread (admin updates between rounds) and read here on each
   * decision; a book made alone (tests) gets a private one.
   */
  constructor(item: StoredItem, readonly globalIndex: number, orderSlots: number,
    private readonly settings: Float64Array = new Float64Array((globalIndex + 1) * SETTING_FIELDS)) {
    this.row = item.row;
    this.stock = item.stock;
    this.left = item.stock;
    this.reserve = item.mode === 'reserve';
    this.settingsAt = globalIndex * SETTING_FIELDS;
    writeSettings(this.settings, globalIndex, item);
    this.holdings = new HoldingsTable(item.stock);
    const slots = Math.max(ORDER_SLOTS_MIN, orderSlots + 1);
    this.orderUser = new Float64Array(slots);
    this.orderState = new Uint8Array(slots);
    this.orderCreatedAt = new Float64Array(slots);
    this.orderPayBy = new Float64Array(slots);
  }

  get endsAt(): number {
    return this.settings[this.settingsAt + SETTING.endsAt]!;
  }

  get perUserLimit(): number {
    return this.settings[this.settingsAt + SETTING.perUserLimit]!;
  }

  get payWindowMs(): number {
    return this.settings[this.settingsAt + SETTING.payWindowMs]!;
  }

  /** Whether shoppers may join the item's waitlist (sale-definition.ts allows it in reserve mode only). */
  get waitlistOpen(): boolean {
    return this.settings[this.settingsAt + SETTING.waitlist] === 1;
  }

  /** When the fair window closes (SETTING.drawAt), 0 without one. */
  get drawAt(): number {
    return this.settings[this.settingsAt + SETTING.drawAt]!;
  }

  orderId(sequence: number): number {
    return orderIdOf(this.row, sequence);
  }

  /** Makes room for order `sequence`; doubles the arrays when needed. */
  ensureSlot(sequence: number): void {
    if (sequence < this.orderUser.length) return;
    let slots = this.orderUser.length * 2;
    while (slots <= sequence) slots *= 2;
    this.orderUser = grow(this.orderUser, new Float64Array(slots));
    this.orderState = grow(this.orderState, new Uint8Array(slots));
    this.orderCreatedAt = grow(this.orderCreatedAt, new Float64Array(slots));
    this.orderPayBy = grow(this.orderPayBy, new Float64Array(slots));
  }

  /** Puts a recovered order into the book (start-up only). */
  restoreOrder(sequence: number, userId: number, state: number, createdAt: number, payBy: number): void {
    assert.ok(sequence >= 1 && (this.orderState[sequence] === undefined || this.orderState[sequence] === 0),
      'order restored twice or at sequence 0');
    this.ensureSlot(sequence);
    this.orderUser[sequence] = userId;
    this.orderState[sequence] = state;
    this.orderCreatedAt[sequence] = createdAt;
    this.orderPayBy[sequence] = payBy;
    if (sequence > this.orderCount) this.orderCount = sequence;
    if (holdsUnit(state)) {
      this.left--;
      assert.ok(this.holdings.increment(userId) > 0);
    }
  }
}

function grow<T extends Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Builds the book of `item` from the orders in the database. */
export function loadItemBook(db: Db, item: StoredItem, globalIndex: number, settings: Float64Array): ItemBook {
  const { first, last } = orderIdRange(item.row);
  const rows = db.prepare('SELECT id, user_id, state, created_at, pay_by FROM orders ' +
    'WHERE id BETWEEN ? AND ? ORDER BY id')
    .raw().all(first, last) as [number, number, number, number, number | null][];
  const book = new ItemBook(item, globalIndex, Math.min(ORDER_SLOTS_INITIAL_MAX, Math.max(item.stock, rows.length)),
    settings);
  for (const [id, userId, state, createdAt, payBy] of rows) {
    book.restoreOrder(id - first, userId, state, createdAt, payBy ?? 0);
  }
  // The sale file may have lowered stock below what is already held; start-up checks that first.
  assert.ok(book.left >= 0, `item ${item.id}: more units held than stock`);
  book.waitlist = loadWaitlist(db, item.row);
  const drawAt = book.drawAt;
  if (drawAt > 0) {
    const entries = readFairEntries(db, item.row, drawAt);
    if (entries.length > 0) book.fair = new FairWindow(drawAt);
    for (const { userId, key } of entries) book.fair!.add(userId, key);
  }
  // Reserved orders are expired by the sweep from the oldest one on.
  while (book.expiryCursor <= book.orderCount && book.orderState[book.expiryCursor] !== ORDER_STATE.reserved) {
    book.expiryCursor++;
  }
  return book;
}
