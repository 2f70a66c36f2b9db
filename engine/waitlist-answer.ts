// The JSON body of a waitlist answer (engine/waitlist-routes.ts), from the
// place a shard's OrderView carries (shard.ts says how).

import type { OrderView } from './shard';
import { PLACE_VIEW, PLACE_VIEW_NAMES } from './waitlist-queue';

/**
 * {"item","place","state":"waiting","ahead"} while the place waits,
 * {"item","place","state":"offered","ahead":0,"order","payBy"} once a unit
 * was offered to it, {"item","place","state":"dropped","ahead":0} when it
 * was skipped. A join answers the same body as a look.
 */
export function waitlistAnswer(itemId: string, view: OrderView): string {
  const head = `{"item":${JSON.stringify(itemId)},"place":${view.place},"state":"${PLACE_VIEW_NAMES[view.state]}"`;
  if (view.state === PLACE_VIEW.offered) return `${head},"ahead":0,"order":"${view.orderId}","payBy":${view.payBy}}`;
  return `${head},"ahead":${view.createdAt}}`;
}
