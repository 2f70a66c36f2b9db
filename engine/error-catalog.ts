// The one catalog of refusals. Each code maps to the HTTP status of the
// contract (../shared/spec/API.md) and to a prebuilt body, so answering a
// refusal costs no serialization. Codes marked "engine" are ours, where the
// contract is silent; the README lists them all (a test checks it does).

export interface ErrorEntry {
  readonly code: string;
  readonly status: string;
  readonly retryAfter: boolean;
}

function entry(code: string, status: string, retryAfter = false): ErrorEntry {
  return { code, status, retryAfter };
}

export const ERRORS = {
  bad_request: entry('bad_request', '400 Bad Request'),
  challenge_failed: entry('challenge_failed', '400 Bad Request'),
  unauthorized: entry('unauthorized', '401 Unauthorized'),
  bad_ticket: entry('bad_ticket', '403 Forbidden'),
  banned: entry('banned', '403 Forbidden'),
  not_started: entry('not_started', '403 Forbidden'),
  unknown_item: entry('unknown_item', '404 Not Found'),
  not_found: entry('not_found', '404 Not Found'),
  sold_out: entry('sold_out', '409 Conflict'),
  limit_reached: entry('limit_reached', '409 Conflict'),
  ended: entry('ended', '410 Gone'),
  too_large: entry('too_large', '413 Payload Too Large'),
  url_too_long: entry('url_too_long', '414 URI Too Long'),
  headers_too_large: entry('headers_too_large', '431 Request Header Fields Too Large'),
  rate_limited: entry('rate_limited', '429 Too Many Requests', true),
  overloaded: entry('overloaded', '503 Service Unavailable', true),
  // Order routes (engine codes: the contract names the states, not every refusal).
  unknown_order: entry('unknown_order', '404 Not Found'),
  expired: entry('expired', '410 Gone'),
  cancelled: entry('cancelled', '409 Conflict'),
  not_reserved: entry('not_reserved', '409 Conflict'),
  already_paid: entry('already_paid', '409 Conflict'),
  shutting_down: entry('shutting_down', '503 Service Unavailable', true),
  paused: entry('paused', '503 Service Unavailable', true),
  item_live: entry('item_live', '409 Conflict'),
  reservations_open: entry('reservations_open', '409 Conflict'),
  item_exists: entry('item_exists', '409 Conflict'),
  item_has_orders: entry('item_has_orders', '409 Conflict'),
} as const;

export type ErrorCode = keyof typeof ERRORS;

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
} as const;

export type Outcome = (typeof OUTCOME)[keyof typeof OUTCOME];

/** The error code for each non-zero outcome, indexed by outcome. */
export const OUTCOME_ERROR: readonly (ErrorCode | null)[] = [
  null, 'sold_out', 'limit_reached', 'unknown_order', 'expired', 'cancelled', 'not_reserved',
  'already_paid', 'overloaded', 'ended',
];

/** Seconds a client should wait before retrying a 429 or 503. */
export const RETRY_AFTER_SECONDS = '1';
