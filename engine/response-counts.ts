// Requests and responses by route, for /metrics (flash_http_requests_total,
// flash_http_responses_total). One object, made at start-up and handed to
// whatever answers: each reply knows its route and counts its own answer.

import { ERRORS, type ErrorCode } from './error-catalog';

/** Each name's position in `names`. */
function indexOf<N extends string>(names: readonly N[]): Record<N, number> {
  return Object.fromEntries(names.map((name, index) => [name, index])) as Record<N, number>;
}

/** Routes whose requests and responses /metrics counts. */
export const ROUTE_NAMES = ['buy', 'order', 'pay', 'cancel', 'time', 'items', 'item', 'ticket', 'challenge', 'ws',
  'sale_js', 'health', 'demo_token', 'static', 'not_found', 'admin', 'metrics', 'entry', 'draw', 'waitlist',
] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];
export const ROUTE_INDEX = indexOf(ROUTE_NAMES);

/** Outcomes of a response: 0 is "ok", then one per error code of the catalog. */
export type ResponseOutcome = 'ok' | ErrorCode;
export const RESPONSE_OUTCOMES: readonly ResponseOutcome[] = ['ok', ...(Object.keys(ERRORS) as ErrorCode[])];
export const OUTCOME_INDEX = indexOf(RESPONSE_OUTCOMES);

export class ResponseCounts {
  /**
   * Requests per route, counted on arrival, and responses per route and
   * outcome (ROUTE_NAMES.length * RESPONSE_OUTCOMES.length). One writer,
   * its HTTP thread; the arrays may be shared memory that /metrics reads.
   */
  constructor(
    readonly requests: Float64Array = new Float64Array(ROUTE_NAMES.length),
    readonly responses: Float64Array = new Float64Array(ROUTE_NAMES.length * RESPONSE_OUTCOMES.length),
  ) {}

  /** Counts one answer of `route` (ROUTE_INDEX) with outcome `outcome` (OUTCOME_INDEX). */
  count(route: number, outcome: number): void {
    this.responses[route * RESPONSE_OUTCOMES.length + outcome]!++;
  }
}
