// Every bound the engine has, defined once. Each comment says why the number
// is what it is and what memory it costs, so that a change here is a decision
// and not an accident. `checkLimits()` asserts the relations between them at
// start-up. The write-behind log's bounds live beside the log, in
// persistence/log-constants.ts, and are checked here with the rest.

import assert from 'node:assert/strict';
import { LOG_BATCH_RECORDS_MAX, LOG_RECORD_BYTES, LOG_SEGMENT_BYTES_MAX } from '../persistence/log-constants';
import { TWO_POW_32 } from '../persistence/order-id';

/** Items the engine can hold across all shards: sizes the shared `left` array (4 B each). */
export const ITEMS_MAX = 100_000;

/**
 * Slots in each of a shard's rings (shard-ring.ts): a producer's request
 * ring and answer ring to it, and its control ring. A producer's token pool
 * is this size, the bound on its in-flight work on the shard; an empty pool
 * is answered 503 overloaded at once. Must be a power of two. A shard's
 * rings cost (producers * (48 + 64) + 48) B per slot: 4,096 slots with one
 * producer are 640 KiB per shard.
 */
export const RING_SLOTS_DEFAULT = 4_096;
/** --rate-exempt ranges at most: each buy from an exempt-listed engine checks them all. */
export const RATE_EXEMPT_RANGES_MAX = 64;
export const RING_SLOTS_MAX = 65_536;

/**
 * Requests a shard worker takes from one producer's ring in one turn
 * (shard-turns.ts). Every producer's ring is served each turn, so a
 * producer that floods its ring delays another's requests by at most this
 * many decisions per turn (about 1 µs each: 1 ms), never by its whole ring;
 * and a turn still groups a thousand records per producer into one log
 * write (and one fdatasync with --fsync). It costs no memory.
 */
export const RING_TURN_REQUESTS_MAX = 1_024;

/**
 * Producers (HTTP threads) one shard serves at most: a turn's requests from
 * all of them, PRODUCERS_MAX * RING_TURN_REQUESTS_MAX, fit one log batch,
 * so a turn is one log write. Each producer costs every shard a request
 * ring and an answer ring (RING_SLOTS_DEFAULT).
 */
export const PRODUCERS_MAX = 16;

/**
 * Per-user holdings tables start at this many slots per item at least, and
 * never grow past HOLDINGS_SLOTS_MAX (2^26 slots at 10 B each = 640 MiB), past
 * which a buy is refused 503 overloaded rather than answered wrong.
 */
export const HOLDINGS_SLOTS_MIN = 16;
/** A table is never allocated larger than this up front (2^20 slots = 10 MiB); it grows instead. */
export const HOLDINGS_SLOTS_INITIAL_MAX = 1 << 20;
export const HOLDINGS_SLOTS_MAX = 1 << 26;

/**
 * Idempotency keys (Idempotency-Key on a buy, idempotency-keys.ts) the
 * engine holds at once, over every user: a keyed buy that reaches the
 * shard keeps its key until the engine stops, so that a retry at any time
 * in the sale gets the first answer. 2^20 is more than the orders of a
 * large sale plus its shard refusals (a buy the gate refuses keeps no key).
 * The table has twice as many slots (load at most one half, so probe runs
 * stay short), 40 B each: 80 MiB of shared memory, mapped as keys arrive.
 * When it is full a new keyed buy is refused 503 overloaded; a retry of a
 * kept key is still answered.
 */
export const IDEMPOTENCY_KEYS_MAX = 1 << 20;

/**
 * The longest fair start window an item may have (fairWindowMs,
 * fair-window.ts): buys in it wait for the draw, so a longer window holds
 * every shopper's answer longer than a sale page should make them wait.
 */
export const FAIR_WINDOW_MS_MAX = 60_000;

/**
 * Entrants one item's fair window takes at most; the next entry in the
 * window is refused 503 overloaded. The shard keeps per entrant its user
 * and key (16 B), a map entry (about 80 B) and, after the draw, its place
 * and result (13 B): about 28 MiB for a full window. The draw hashes and
 * sorts them all in one turn of the shard (about 0.5 s at this bound,
 * measured on this machine with the unit test's numbers), once per item.
 */
export const FAIR_ENTRANTS_MAX = 262_144;

/**
 * Users the bot-signal table (suspect-users.ts) lists: those with a buy
 * refused not_started or a challenge answer sent too fast. A sale's bots are
 * hundreds to thousands of accounts; 2^16 lists a large farm whole. Twice as
 * many Int32 index slots plus 48 B an entry: 3.5 MiB of shared memory,
 * mapped as users arrive. A user the full table cannot take is counted
 * (flash_signal_table_full_total{table="users"}), and its buys still count
 * per item.
 */
export const SUSPECT_USERS_MAX = 1 << 16;

/**
 * Client address blocks (/24, /64) and (block, user) pairs the address
 * table (address-users.ts) counts. Blocks: 2^16, 32 B an entry plus two
 * 4 B slots, 2.5 MiB. Pairs: one per user seen where the address is at
 * hand (a challenge issued, a WebSocket opened, an early buy), so a sale's
 * shoppers: 2^20, 16 B plus two 4 B slots each, 24 MiB, mapped as they
 * arrive. A full table drops the sighting and counts it
 * (flash_signal_table_full_total{table="addresses"}).
 */
export const ADDRESS_BLOCKS_MAX = 1 << 16;
export const ADDRESS_USER_PAIRS_MAX = 1 << 20;

/** Entries GET /admin/signals lists at most per list: a page an admin reads and bans from, under 150 KB of JSON. */
export const SIGNALS_LIMIT_MAX = 1000;

/** Orders one item can ever have: the low 32 bits of an order id count them. */
export const ORDERS_PER_ITEM_MAX = 2 ** 32 - 1;

/** Largest item row id: row * 2^32 + seq must stay below 2^53. */
export const ITEM_ROW_MAX = 2 ** 21 - 1;

/** Largest stock of one item; keeps `left` in an Int32Array and orders within ORDERS_PER_ITEM_MAX. */
export const STOCK_MAX = 1_000_000_000;

/**
 * Waitlist places one item can give (waitlist-queue.ts). A place costs a
 * user id and an order sequence (16 B in typed arrays) plus an entry in the
 * user-to-place map: a full waitlist measured 7.0 MB of heap here (100,000
 * joins, 0.45 µs each), and only items with a waitlist have one. A join
 * past it is refused 503 waitlist_full. Units come back only by cancels,
 * expiry and restocks, so more places than this would mostly wait in vain.
 */
export const WAITLIST_PLACES_MAX = 100_000;

/** Largest per-user limit: holdings counts are kept in a Uint16Array. */
export const PER_USER_LIMIT_MAX = 65_535;

/** The body of a buy: empty, or JSON {"challenge","answer"} of at most 1 KiB (contract). */
export const BUY_BODY_BYTES_MAX = 1024;

/** Other request bodies the shopper API accepts (pay, cancel: none needed). */
export const SMALL_BODY_BYTES_MAX = 1024;

/** Expiry sweep period for reserve-mode orders: a reservation returns its unit within this of payBy. */
export const EXPIRY_SWEEP_MS = 100;

/** How long /api/items, /api/items/:id and /sale.js bodies may be reused (contract allows 1 s). */
export const CATALOG_CACHE_MS = 250;

/** Bytes of the reusable answer buffer: the longest won or order answer is under 300 B. */
export const ANSWER_BUFFER_BYTES = 1024;

/** Length of a buy ticket: 22 base64url characters carry 132 bits of HMAC. */
export const TICKET_CHARS = 22;

/**
 * Open waits on the outcome stream at most: long-polls that wait and
 * Server-Sent Event streams of GET /admin/events together. Each holds a
 * connection, a timer and a page of events being written (up to
 * EVENTS_LIMIT_MAX events, about 2 MB) on the main thread; past it a new
 * one is refused 503 overloaded. The shop needs one or two.
 */
export const EVENT_STREAMS_MAX = 16;
/** Events one answer of GET /admin/events holds by default, and at most (about 200 B each). */
export const EVENTS_LIMIT_DEFAULT = 1000;
export const EVENTS_LIMIT_MAX = 10_000;
/** Seconds a long-poll waits for a new event by default, and at most: under common proxies' 60 s idle cut. */
export const EVENTS_WAIT_SEC_DEFAULT = 25;
export const EVENTS_WAIT_SEC_MAX = 60;
/**
 * How often the main thread looks at the newest event's offset while anyone
 * waits for one: a read of one shared number, so a waiter wakes within this
 * of the commit that made the event.
 */
export const EVENTS_POLL_MS = 20;
/** A Server-Sent Events stream with nothing to send writes a comment this often, so proxies keep it open. */
export const EVENTS_HEARTBEAT_MS = 15_000;
/** Events in one webhook POST at most: about 100 kB of NDJSON. */
export const WEBHOOK_BATCH_EVENTS_MAX = 500;
/** A webhook POST without a whole answer in this time has failed, and is sent again. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** The wait after a failed webhook POST: from the first, doubling to the last, each jittered by up to half. */
export const WEBHOOK_BACKOFF_FIRST_MS = 250;
export const WEBHOOK_BACKOFF_MAX_MS = 30_000;

export function checkLimits(ringSlots: number): void {
  assert.ok(ringSlots > 0 && (ringSlots & (ringSlots - 1)) === 0, 'ring slots must be a power of two');
  assert.ok(ringSlots <= RING_SLOTS_MAX);
  assert.ok(PRODUCERS_MAX * RING_TURN_REQUESTS_MAX <= LOG_BATCH_RECORDS_MAX);
  // A segment is closed only after a whole batch is written, so one batch must fit well inside it.
  assert.ok(LOG_BATCH_RECORDS_MAX * LOG_RECORD_BYTES < LOG_SEGMENT_BYTES_MAX);
  assert.ok((HOLDINGS_SLOTS_MAX & (HOLDINGS_SLOTS_MAX - 1)) === 0);
  assert.ok((HOLDINGS_SLOTS_MIN & (HOLDINGS_SLOTS_MIN - 1)) === 0);
  // An order's sequence is the low 32 bits of its id, and the largest id must stay an exact double.
  assert.ok(ORDERS_PER_ITEM_MAX <= TWO_POW_32 - 1);
  assert.ok(ITEM_ROW_MAX * TWO_POW_32 + ORDERS_PER_ITEM_MAX <= Number.MAX_SAFE_INTEGER);
  assert.ok(STOCK_MAX <= ORDERS_PER_ITEM_MAX);
  assert.ok(STOCK_MAX < 2 ** 31);
  assert.ok((IDEMPOTENCY_KEYS_MAX & (IDEMPOTENCY_KEYS_MAX - 1)) === 0);
  // The signal tables' entry numbers are Int32 slots (keyed-entries.ts).
  assert.ok(SUSPECT_USERS_MAX < 2 ** 31 && ADDRESS_BLOCKS_MAX < 2 ** 31 && ADDRESS_USER_PAIRS_MAX < 2 ** 31);
  // A table entry keeps an item index below 2^31 (an Int32 field).
  assert.ok(ITEMS_MAX < 2 ** 31);
  // A place travels in a won record's f64 and is published in an Int32Array.
  assert.ok(WAITLIST_PLACES_MAX < 2 ** 31);
}
