// What the HTTP and WebSocket routes read of the engine: the catalog, the
// checks' state (buy-gate.ts), the address policy (client-address.ts), and
// the few facts only the shopper routes need. Made once by main.ts.

import type { BuyGateContext } from './buy-gate';
import type { AddressPolicy } from './client-address';
import type { ResponseCounts } from './response-counts';
import type { StaticFile } from './static-files';
import type { UserTokenVerifier } from './user-token';

export interface HttpContext extends BuyGateContext, AddressPolicy {
  verifier: UserTokenVerifier;
  staticFiles: Map<string, StaticFile>;
  /** Set in demo mode only: the secret GET /api/demo/token signs with. */
  demoUserSecret: string | null;
  /** Requests and responses by route. */
  counts: ResponseCounts;
  /** True while every shard thread and the persistence thread are alive. */
  threadsAlive: () => boolean;
  /** Request URL and header block limits (0: off). */
  maxUrlBytes: number;
  maxHeaderBytes: number;
  /** Where the shards publish the draws of fair windows (fair-window.ts), served as they are. */
  drawDir: string;
}
