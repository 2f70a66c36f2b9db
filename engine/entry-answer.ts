// What GET /api/items/:id/entry tells an entrant of a fair window
// (fair-window.ts) before and after the draw. The shard hands an entry's
// place and result over in an OrderView (shard.ts readEntry): the place in
// `place`, the ENTRY_RESULT in `state`.

import { ENTRY_RESULT, ENTRY_RESULT_NAMES } from './fair-window';
import type { OrderView } from './shard';

/** GET .../entry once the user is known to have entered: `drawn` false before the draw. */
export function entryAnswer(itemId: string, drawAt: number, drawn: boolean, view: OrderView): Record<string, unknown> {
  if (!drawn) return { item: itemId, state: 'entered', drawAt };
  const won = view.state === ENTRY_RESULT.won;
  const answer: Record<string, unknown> = { item: itemId, state: won ? 'won' : 'lost', place: view.place, drawAt };
  if (won) {
    answer.order = String(view.orderId);
    answer.payBy = view.payBy > 0 ? view.payBy : null;
  } else {
    answer.reason = ENTRY_RESULT_NAMES[view.state];
  }
  return answer;
}
