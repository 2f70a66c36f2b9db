// The one catalog of refusals. Each code maps to the HTTP status of the
// contract (../shared/spec/API.md) and to a prebuilt body, so answering a
// refusal costs no serialization. Codes marked "engine" are ours, where the
// contract is silent; docs/decisions.md lists them all (a test checks it does).
// Codes marked BUY are the refusals a buy can get: each has a per-item
// counter (item-catalog.ts REFUSAL) that admin stats and /metrics report
// under the code's name, so marking a code here is all it takes to count it.

export interface ErrorEntry<Buy extends boolean = boolean> {
  readonly code: string;
  readonly status: string;
  readonly retryAfter: boolean;
  /** Whether a buy can be refused with this code (counted per item). */
  readonly buy: Buy;
}

interface EntryOptions<Buy extends boolean> {
  readonly retryAfter?: boolean;
  readonly buy?: Buy;
}

function entry<Buy extends boolean = false>(code: string, status: string,
  options: EntryOptions<Buy> = {}): ErrorEntry<Buy> {
  return { code, status, retryAfter: options.retryAfter ?? false, buy: (options.buy ?? false) as Buy };
}

const BUY = { buy: true } as const;
const BUY_RETRY = { buy: true, retryAfter: true } as const;

export const ERRORS = {
  bad_request: entry('bad_request', '400 Bad Request', BUY),
  challenge_failed: entry('challenge_failed', '400 Bad Request', BUY),
  unauthorized: entry('unauthorized', '401 Unauthorized', BUY),
  bad_ticket: entry('bad_ticket', '403 Forbidden', BUY),
  banned: entry('banned', '403 Forbidden', BUY),
  not_started: entry('not_started', '403 Forbidden', BUY),
  unknown_item: entry('unknown_item', '404 Not Found'),
  not_found: entry('not_found', '404 Not Found'),
  sold_out: entry('sold_out', '409 Conflict', BUY),
  limit_reached: entry('limit_reached', '409 Conflict', BUY),
  // Idempotency-Key (engine codes, as the IETF httpapi draft answers them):
  // the first buy with the key is still with its shard; the key was used on
  // another item.
  in_progress: entry('in_progress', '409 Conflict', BUY),
  key_reused: entry('key_reused', '422 Unprocessable Entity', BUY),
  ended: entry('ended', '410 Gone', BUY),
  too_large: entry('too_large', '413 Payload Too Large'),
  url_too_long: entry('url_too_long', '414 URI Too Long'),
  headers_too_large: entry('headers_too_large', '431 Request Header Fields Too Large'),
  rate_limited: entry('rate_limited', '429 Too Many Requests', BUY_RETRY),
  overloaded: entry('overloaded', '503 Service Unavailable', BUY_RETRY),
  // Order routes (engine codes: the contract names the states, not every refusal).
  unknown_order: entry('unknown_order', '404 Not Found'),
  expired: entry('expired', '410 Gone'),
  cancelled: entry('cancelled', '409 Conflict'),
  not_reserved: entry('not_reserved', '409 Conflict'),
  already_paid: entry('already_paid', '409 Conflict'),
  shutting_down: entry('shutting_down', '503 Service Unavailable', BUY_RETRY),
  paused: entry('paused', '503 Service Unavailable', BUY_RETRY),
  item_live: entry('item_live', '409 Conflict'),
  reservations_open: entry('reservations_open', '409 Conflict'),
  item_exists: entry('item_exists', '409 Conflict'),
  item_has_orders: entry('item_has_orders', '409 Conflict'),
  // Waitlist (engine codes): join only a sold-out item that has a waitlist, and while places remain.
  not_sold_out: entry('not_sold_out', '409 Conflict'),
  no_waitlist: entry('no_waitlist', '409 Conflict'),
  waitlist_full: entry('waitlist_full', '503 Service Unavailable', { retryAfter: true }),
  not_waiting: entry('not_waiting', '404 Not Found'),
  // Fair start windows (engine codes): the user has no entry in the item's
  // window; the window's draw is not published (yet, or ever).
  not_entered: entry('not_entered', '404 Not Found'),
  not_drawn: entry('not_drawn', '404 Not Found'),
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** The codes a buy can be refused with (marked BUY above). */
export type BuyRefusal = { [Code in ErrorCode]: (typeof ERRORS)[Code]['buy'] extends true ? Code : never }[ErrorCode];

/** Every buy refusal, in catalog order: the per-item refusal counters are laid out in this order. */
export const BUY_REFUSALS: readonly BuyRefusal[] = (Object.keys(ERRORS) as ErrorCode[])
  .filter((code): code is BuyRefusal => ERRORS[code].buy);

export function isBuyRefusal(code: ErrorCode): code is BuyRefusal {
  return ERRORS[code].buy;
}

/** Prebuilt `{"error":"<code>"}` bodies, one per code. */
export const ERROR_BODIES: Record<ErrorCode, Buffer> = Object.fromEntries(
  Object.keys(ERRORS).map((code) => [code, Buffer.from(JSON.stringify({ error: code }))]),
) as Record<ErrorCode, Buffer>;

/**
 * Outcomes of a shard decision, as small integers so they cross the worker
 * rings in a Float64Array slot. Zero is success.
 */
export const OUTCOME = {
  ok: 0,
  sold_out: 1,
  limit_reached: 2,
  unknown_order: 3,
  expired: 4,
  cancelled: 5,
  not_reserved: 6,
  already_paid: 7,
  overloaded: 8,
  ended: 9,
  /** A buy inside a fair window: entered, decided at the draw. Not a refusal. */
  entered: 10,
  not_entered: 11,
  not_sold_out: 12,
  no_waitlist: 13,
  waitlist_full: 14,
  not_waiting: 15,
} as const;

export type Outcome = (typeof OUTCOME)[keyof typeof OUTCOME];

/** The error code for each non-zero outcome, indexed by outcome. */
export const OUTCOME_ERROR: readonly (ErrorCode | null)[] = [
  null, 'sold_out', 'limit_reached', 'unknown_order', 'expired', 'cancelled', 'not_reserved',
  'already_paid', 'overloaded', 'ended', null, 'not_entered', 'not_sold_out', 'no_waitlist', 'waitlist_full',
  'not_waiting',
];

/** Seconds a client should wait before retrying a 429 or 503. */
export const RETRY_AFTER_SECONDS = '1';
