// Registers HTTP routes so that every handler gets a reply that knows its
// route: the request is counted on arrival, its URL and header block are
// checked against the configured limits, and each answer is counted by the
// reply that writes it (http-reply.ts).

import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ErrorCode } from './error-catalog';
import { HttpReply, type HttpAnswers } from './http-reply';
import { ROUTE_INDEX, type RouteName } from './response-counts';

export type RouteHandler = (reply: HttpReply, req: HttpRequest) => void;

/** Request URL and header block limits in bytes (0: off). */
export interface RequestLimits {
  maxUrlBytes: number;
  maxHeaderBytes: number;
}

/**
 * 414 or 431 for a request whose URL or header block is past the limits.
 * uWebSockets.js bounds both itself (it drops a connection whose header
 * block passes about 64 KiB); these are the engine's tighter, answered ones.
 */
function sizeRefusal(req: HttpRequest, limits: RequestLimits): ErrorCode | null {
  const urlBytes = req.getUrl().length + (req.getQuery() ?? '').length;
  if (limits.maxUrlBytes > 0 && urlBytes > limits.maxUrlBytes) return 'url_too_long';
  if (limits.maxHeaderBytes > 0) {
    let bytes = 0;
    req.forEach((key, value) => {
      bytes += key.length + value.length + 4;
    });
    if (bytes > limits.maxHeaderBytes) return 'headers_too_large';
  }
  return null;
}

export class HttpRoutes {
  constructor(readonly app: TemplatedApp, readonly answers: HttpAnswers, private readonly limits: RequestLimits) {}

  get(pattern: string, route: RouteName, handler: RouteHandler): void {
    this.app.get(pattern, this.counted(route, handler));
  }

  post(pattern: string, route: RouteName, handler: RouteHandler): void {
    this.app.post(pattern, this.counted(route, handler));
  }

  put(pattern: string, route: RouteName, handler: RouteHandler): void {
    this.app.put(pattern, this.counted(route, handler));
  }

  del(pattern: string, route: RouteName, handler: RouteHandler): void {
    this.app.del(pattern, this.counted(route, handler));
  }

  head(pattern: string, route: RouteName, handler: RouteHandler): void {
    this.app.head(pattern, this.counted(route, handler));
  }

  any(pattern: string, route: RouteName, handler: RouteHandler): void {
    this.app.any(pattern, this.counted(route, handler));
  }

  /**
   * Counts a request on arrival, checks its size, then hands it to `handler`
   * with its reply. The buy route skips the size check (it costs a string
   * per header): its path parameters are checked exactly, and what it reads
   * of its headers is bounded by the token format.
   */
  private counted(route: RouteName, handler: RouteHandler): (res: HttpResponse, req: HttpRequest) => void {
    const index = ROUTE_INDEX[route];
    const checkSize = route !== 'buy';
    const { answers, limits } = this;
    const requests = answers.counts.requests;
    return (res, req) => {
      requests[index]!++;
      const reply = new HttpReply(res, index, answers);
      const refusal = checkSize ? sizeRefusal(req, limits) : null;
      if (refusal !== null) reply.refuse(refusal);
      else handler(reply, req);
    };
  }
}
