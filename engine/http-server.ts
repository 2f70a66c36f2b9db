// Assembles one HTTP thread's uWebSockets.js app: the shopper's WebSocket,
// the admin API (on the main thread; relayed to it from the others), the
// shopper routes, health and metrics, and the static files, in that order
// (the static catch-all last). Each group lives in its own
// module; every HTTP answer goes through a reply (http-reply.ts) that counts
// it, and every shard answer through the dispatcher's Answerer and the
// request's reply, whichever the transport.

import uWS, { type TemplatedApp } from 'uWebSockets.js';
import { registerAdminRelay, type RelayTarget } from './admin-relay';
import { registerAdminRoutes, type AdminContext } from './admin-routes';
import type { HttpContext } from './http-context';
import { HttpAnswers } from './http-reply';
import { HttpRoutes, type RouteHandler } from './http-routes';
import type { RequestDispatcher } from './shard-dispatcher';
import { registerShopperRoutes } from './shopper-routes';
import { registerStaticRoutes } from './static-routes';
import { registerWebSocket, type WsChannel, type WsSettings } from './ws-channel';

/** /healthz: the process answers; /readyz: it takes writes and every thread is alive. */
function registerHealthRoutes(routes: HttpRoutes, ctx: HttpContext): void {
  routes.get('/healthz', 'health', (reply) => reply.json('{"status":"ok"}'));
  routes.get('/readyz', 'health', (reply) => {
    if (ctx.closing) return reply.refuse('shutting_down');
    // Listening means recovery is done; the threads must be alive too.
    if (!ctx.threadsAlive()) return reply.refuse('overloaded');
    reply.json('{"status":"ready"}');
  });
}

/**
 * What a thread serves beyond the shopper path: the main thread the admin
 * API (null when no admin token is set) and /metrics; every other thread a
 * relay of both to the main thread.
 */
export type Operations = { admin: AdminContext | null; metrics: RouteHandler } | { relay: RelayTarget };

export function createHttpApp(ctx: HttpContext, shards: RequestDispatcher, operations: Operations,
  ws: WsSettings): { app: TemplatedApp; channel: WsChannel } {
  const app = uWS.App();
  const answers = new HttpAnswers(ctx.counts, ctx.catalog);
  const routes = new HttpRoutes(app, answers, ctx);
  const channel = registerWebSocket(app, ctx, shards, answers, ws);
  if ('relay' in operations) registerAdminRelay(app, answers, operations.relay);
  else if (operations.admin !== null) registerAdminRoutes(routes, operations.admin);
  registerShopperRoutes(routes, ctx, shards);
  if ('metrics' in operations) routes.get('/metrics', 'metrics', operations.metrics);
  registerHealthRoutes(routes, ctx);
  registerStaticRoutes(routes, ctx.staticFiles);
  return { app, channel };
}
