// The WebSocket side of Reply: an answer is a MessagePack frame on the
// shopper's socket, carrying the id of the frame it answers. `aborted` is the
// socket having closed; there is no abort handler to attach, since the
// socket's close handler already marks its connection closed.

import { Packr } from 'msgpackr';
import type { WebSocket } from 'uWebSockets.js';
import { OUTCOME, OUTCOME_ERROR, type ErrorCode, type Outcome } from './error-catalog';
import type { ItemCatalog } from './item-catalog';
import type { Reply } from './reply';
import { OUTCOME_INDEX, ROUTE_INDEX, type ResponseCounts, type ResponseOutcome } from './response-counts';
import type { OrderView } from './shard';

export interface Connection {
  userId: number;
  /** When the socket's token expires (epoch ms): its buys are refused unauthorized from then. 0: no token. */
  expiresMs: number;
  /** The slot of this connection's address in the per-address count, or -1 when not counted. */
  addressSlot: number;
  /** Rate-limit key of the client address, fixed at upgrade. */
  addressKey: number;
  /** The socket address (4 or 16 bytes), or the trusted proxy header's text. */
  address: ArrayBuffer | string;
  badFrames: number;
  closed: boolean;
}

// Maps in and out, never msgpackr's record extension, so any MessagePack
// client can read and write them.
export const packr = new Packr({ useRecords: false });

/** What every WebSocket reply shares. */
export class WsAnswers {
  constructor(readonly counts: ResponseCounts, readonly catalog: ItemCatalog) {}
}

export class WsReply implements Reply {
  /** `frameId` is null when the frame answered had no usable id: the answer then carries none. */
  constructor(readonly ws: WebSocket<Connection>, readonly conn: Connection, readonly frameId: number | null,
    private readonly shared: WsAnswers) {}

  get aborted(): boolean {
    return this.conn.closed;
  }

  watch(): void {
    // The socket's close handler sets conn.closed, which is `aborted`.
  }

  cork(write: () => void): void {
    if (!this.conn.closed) this.ws.cork(write);
  }

  /** Counts an answer on the ws route. */
  count(outcome: ResponseOutcome): void {
    this.shared.counts.count(ROUTE_INDEX.ws, OUTCOME_INDEX[outcome]);
  }

  /** Sends an answer that is not a refusal (its id is added first). */
  send(fields: Record<string, unknown>): void {
    this.count('ok');
    this.sendFrame({ id: this.frameId, ...fields });
  }

  refuse(code: ErrorCode, itemIndex = -1): void {
    this.count(code);
    if (this.frameId === null) return this.sendFrame({ error: code });
    if (code === 'not_started' && itemIndex >= 0) {
      const { startsAt } = this.shared.catalog.items[itemIndex]!;
      return this.sendFrame({ id: this.frameId, error: code, startsAt });
    }
    this.sendFrame({ id: this.frameId, error: code });
  }

  /** Sends the decision on a buy: won with the order, or the refusal's code. */
  answer(_op: number, itemIndex: number, outcome: Outcome, view: OrderView): void {
    const { catalog } = this.shared;
    // A buy inside the item's fair window: the result comes at the draw (GET /api/items/:id/entry).
    if (outcome === OUTCOME.entered) {
      return this.send({ result: 'entered', item: catalog.items[itemIndex]!.id, drawAt: catalog.drawAt(itemIndex) });
    }
    if (outcome !== OUTCOME.ok) return this.refuse(OUTCOME_ERROR[outcome]!);
    const item = catalog.items[itemIndex]!.id;
    this.send({ result: 'won', order: String(view.orderId), item, payBy: view.payBy > 0 ? view.payBy : null });
  }

  private sendFrame(frame: Record<string, unknown>): void {
    // Sending on a closed uWS socket throws; the client is gone, so is the answer.
    if (!this.conn.closed) this.ws.send(packr.pack(frame), true);
  }
}
