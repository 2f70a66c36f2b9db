// The HTTP side of Reply: one small object per request (the uWS response and
// its route), and one HttpAnswers per app that every reply shares: the
// response counts, the catalog for item bodies, and one reused buffer into
// which won answers and order views are written (answer-writer.ts). Status
// lines, header names and refusal bodies are prebuilt byte buffers; no buy
// answer builds a string or calls JSON.

import type { HttpResponse } from 'uWebSockets.js';
import { ORDER_STATE_NAMES } from '../persistence/log-record';
import { AnswerWriter, FRAGMENT } from './answer-writer';
import {
  ERROR_BODIES, ERRORS, OUTCOME, OUTCOME_ERROR, RETRY_AFTER_SECONDS, type ErrorCode, type Outcome,
} from './error-catalog';
import { entryAnswer } from './entry-answer';
import type { ItemCatalog } from './item-catalog';
import type { Reply } from './reply';
import { watchAborted } from './response-abort';
import { OUTCOME_INDEX, type ResponseCounts, type ResponseOutcome } from './response-counts';
import { OP, type OrderView } from './shard';
import { waitlistAnswer } from './waitlist-answer';

// Header names, values and status lines as bytes: uWS takes them as they are,
// where a JS string would be converted to UTF-8 on every call.
export const HEADER = {
  authorization: Buffer.from('authorization'),
  cookie: Buffer.from('cookie'),
  idempotencyKey: Buffer.from('idempotency-key'),
  contentLength: Buffer.from('content-length'),
  contentType: Buffer.from('content-type'),
  cacheControl: Buffer.from('cache-control'),
  retryAfter: Buffer.from('retry-after'),
  transferEncoding: Buffer.from('transfer-encoding'),
} as const;
export const JSON_TYPE = Buffer.from('application/json');
const STATUS_OK = Buffer.from('200 OK');
const STATUS_ACCEPTED = Buffer.from('202 Accepted');
const RETRY_AFTER = Buffer.from(RETRY_AFTER_SECONDS);
const ERROR_STATUS = Object.fromEntries(
  Object.entries(ERRORS).map(([code, entry]) => [code, Buffer.from(entry.status)]),
) as Record<ErrorCode, Buffer>;

/** What every HTTP reply of one app shares. */
export class HttpAnswers {
  readonly writer = new AnswerWriter();
  readonly stateBytes = ORDER_STATE_NAMES.map((name) => Buffer.from(name));

  constructor(readonly counts: ResponseCounts, readonly catalog: ItemCatalog) {}
}

export class HttpReply implements Reply {
  /** `route` is the route's ROUTE_INDEX: every answer through this reply is counted on it. */
  constructor(readonly res: HttpResponse, readonly route: number, private readonly shared: HttpAnswers) {}

  get aborted(): boolean {
    return this.res.aborted === true;
  }

  watch(): void {
    watchAborted(this.res);
  }

  cork(write: () => void): void {
    this.res.cork(write);
  }

  /** Counts an answer that the caller writes to `res` itself (static files, streams, scripts). */
  count(outcome: ResponseOutcome): void {
    this.shared.counts.count(this.route, OUTCOME_INDEX[outcome]);
  }

  /** 200 with a JSON body. */
  json(body: Buffer | string, cacheControl = 'no-store'): void {
    this.count('ok');
    this.res.writeStatus(STATUS_OK).writeHeader(HEADER.contentType, JSON_TYPE)
      .writeHeader(HEADER.cacheControl, cacheControl).end(body);
  }

  refuse(code: ErrorCode, itemIndex = -1): void {
    const { notStartedBodies } = this.shared.catalog;
    this.refuseWith(code, code === 'not_started' && itemIndex >= 0 ? notStartedBodies[itemIndex]! : ERROR_BODIES[code]);
  }

  /**
   * The one way an HTTP refusal is written: the code's status, Retry-After
   * where the catalog asks for it, and `body` (the code's prebuilt body, or
   * a message for an operator). `closeConnection` for a request whose body
   * is left unread: the connection cannot carry another request.
   */
  refuseWith(code: ErrorCode, body: Buffer | string, closeConnection = false): void {
    this.count(code);
    this.res.writeStatus(ERROR_STATUS[code]).writeHeader(HEADER.contentType, JSON_TYPE);
    if (ERRORS[code].retryAfter) this.res.writeHeader(HEADER.retryAfter, RETRY_AFTER);
    this.res.end(body, closeConnection);
  }

  /** A refusal that tells an operator why, as {"error": code, "message": ...}. */
  refuseWithMessage(code: ErrorCode, message: string): void {
    this.refuseWith(code, JSON.stringify({ error: code, message }));
  }

  answer(op: number, itemIndex: number, outcome: Outcome, view: OrderView): void {
    const { catalog, writer, stateBytes } = this.shared;
    if (op === OP.entry && (outcome === OUTCOME.ok || outcome === OUTCOME.entered)) {
      const answer = entryAnswer(catalog.items[itemIndex]!.id, catalog.drawAt(itemIndex), outcome === OUTCOME.ok, view);
      return this.json(JSON.stringify(answer));
    }
    if (outcome === OUTCOME.entered) return this.entered(itemIndex);
    if (outcome !== OUTCOME.ok) return this.refuse(OUTCOME_ERROR[outcome]!);
    // An admin answer: the item as it is now that its shard has the new stock.
    if (op === OP.restock) return this.json(JSON.stringify(catalog.publicItem(itemIndex, Date.now())));
    if (op === OP.joinWaitlist || op === OP.waitlistPlace) {
      return this.json(waitlistAnswer(catalog.items[itemIndex]!.id, view));
    }
    const w = writer.reset();
    const id = catalog.idBytes[itemIndex]!;
    if (op === OP.buy) {
      w.bytes(FRAGMENT.wonOrder).integer(view.orderId).bytes(FRAGMENT.wonItem).bytes(id)
        .bytes(FRAGMENT.wonPayBy).timeOrNull(view.payBy).bytes(FRAGMENT.close);
    } else {
      w.bytes(FRAGMENT.viewOrder).integer(view.orderId).bytes(FRAGMENT.viewItem).bytes(id)
        .bytes(FRAGMENT.viewUser).integer(view.userId)
        .bytes(FRAGMENT.viewState).bytes(stateBytes[view.state]!).bytes(FRAGMENT.viewCreatedAt).integer(view.createdAt)
        .bytes(FRAGMENT.viewPayBy).timeOrNull(view.payBy).bytes(FRAGMENT.close);
    }
    this.count('ok');
    this.res.writeStatus(STATUS_OK).writeHeader(HEADER.contentType, JSON_TYPE).end(w.view());
  }

  /** 202: a buy inside the item's fair window is entered and answered at the draw (GET .../entry). */
  private entered(itemIndex: number): void {
    const { catalog, writer } = this.shared;
    const w = writer.reset().bytes(FRAGMENT.enteredItem).bytes(catalog.idBytes[itemIndex]!)
      .bytes(FRAGMENT.enteredDrawAt).integer(catalog.drawAt(itemIndex)).bytes(FRAGMENT.close);
    this.count('ok');
    this.res.writeStatus(STATUS_ACCEPTED).writeHeader(HEADER.contentType, JSON_TYPE).end(w.view());
  }
}
