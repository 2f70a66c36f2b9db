// What every shard answer does before its reply writes it, whatever the
// transport: a buy's latency is recorded, a buy shed by a full ring is
// counted on its item, and a restock makes the catalog's cached bodies
// stale. The reply (HTTP or WebSocket) then writes the answer its own way.

import { OUTCOME, type Outcome } from './error-catalog';
import { REFUSAL, type ItemCatalog } from './item-catalog';
import type { LatencyHistogram } from './latency-histogram';
import type { Reply } from './reply';
import { OP, type OrderView } from './shard';
import type { Answerer } from './shard-dispatcher';

export class ShardAnswerer implements Answerer {
  constructor(private readonly catalog: ItemCatalog, private readonly latency: LatencyHistogram) {}

  answer(reply: Reply, op: number, itemIndex: number, outcome: Outcome, view: OrderView, waitedMs: number): void {
    if (op === OP.buy) {
      this.latency.record(waitedMs);
      if (outcome === OUTCOME.overloaded) this.catalog.countRefusal(itemIndex, REFUSAL.overloaded);
    }
    if (op === OP.restock && outcome === OUTCOME.ok) this.catalog.invalidate();
    reply.answer(op, itemIndex, outcome, view);
  }
}
