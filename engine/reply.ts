// How an answer goes back to the client, whatever the transport: an HTTP
// response (http-reply.ts) or a frame on the shopper's WebSocket
// (ws-reply.ts). The shard dispatchers hold a Reply while a decision waits
// for the write-behind log and answer through it, so they never know which
// transport a request came by. Every reply counts its own answer by route
// and outcome.

import type { ErrorCode, Outcome } from './error-catalog';
import type { OrderView } from './shard';

export interface Reply {
  /** Whether the client went away; meaningful once watch() was called. */
  readonly aborted: boolean;
  /**
   * Attaches the abort handler. Called before any asynchronous work whose
   * end answers: uWebSockets.js ends the process when a response that was
   * aborted without a handler is written to.
   */
  watch(): void;
  /** Runs `write` corked, as every write after asynchronous work must be. */
  cork(write: () => void): void;
  /**
   * Answers a shard's decision on `op` for item `itemIndex`: the won order,
   * the order view or the restocked item for OUTCOME.ok, else the refusal.
   */
  answer(op: number, itemIndex: number, outcome: Outcome, view: OrderView): void;
  /** Refuses with a code of the catalog; `itemIndex` (or -1) names the item whose start a not_started refusal tells. */
  refuse(code: ErrorCode, itemIndex?: number): void;
}
