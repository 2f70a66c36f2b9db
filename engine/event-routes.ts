// GET /admin/events: the outcome stream for the shop's order system, read
// from SQLite's `events` table (persistence/outcome-events.ts), where every
// applied log record has one event with an offset that never changes.
//
// Two ways to read it, both resumable from the last offset a consumer saw:
// - NDJSON long-poll: answers at once with up to `limit` events after
//   `after`; when there are none, waits up to `wait` seconds for the next
//   and answers then (possibly with an empty body).
// - Server-Sent Events (`Accept: text/event-stream`): one open answer that
//   writes every event after `after` (or `Last-Event-ID`) as it is
//   committed, `id:` being the offset, with a comment line as heartbeat and
//   the socket's backpressure respected.
// Waiting long-polls and streams together are bounded (EVENT_STREAMS_MAX).

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { eventLines, type OutcomeEvent } from '../persistence/outcome-events';
import {
  EVENTS_HEARTBEAT_MS, EVENTS_LIMIT_DEFAULT, EVENTS_LIMIT_MAX, EVENTS_WAIT_SEC_DEFAULT, EVENTS_WAIT_SEC_MAX,
} from './constants';
import type { EventFeed } from './event-feed';
import type { HttpReply } from './http-reply';
import type { RouteHandler } from './http-routes';

interface EventsQuery {
  after: number;
  limit: number;
  waitMs: number;
  sse: boolean;
}

/** The header that tells a long-poll's consumer where to resume: the last offset in the body, or `after`. */
const LAST_OFFSET_HEADER = 'x-flash-last-offset';

/** A whole number within min..max from the query (or a header), `otherwise` when absent; a string is the error. */
function wholeNumber(raw: string, name: string, min: number, max: number, otherwise: number): number | string {
  if (raw === '') return otherwise;
  const value = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) return `${name} must be a whole number from ${min} to ${max}`;
  return value;
}

/** Reads the request's parameters; a string is the message of a 400 naming the bad one. */
function eventsQuery(req: HttpRequest): EventsQuery | string {
  const sse = req.getHeader('accept').includes('text/event-stream');
  const lastEventId = sse ? req.getHeader('last-event-id') : '';
  // An EventSource reconnects with its first URL and the last id it saw: the id wins.
  const after = lastEventId === ''
    ? wholeNumber(req.getQuery('after') ?? '', 'after', 0, Number.MAX_SAFE_INTEGER, 0)
    : wholeNumber(lastEventId, 'Last-Event-ID', 0, Number.MAX_SAFE_INTEGER, 0);
  if (typeof after === 'string') return after;
  const limit = wholeNumber(req.getQuery('limit') ?? '', 'limit', 1, EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT);
  if (typeof limit === 'string') return limit;
  const wait = wholeNumber(req.getQuery('wait') ?? '', 'wait', 0, EVENTS_WAIT_SEC_MAX, EVENTS_WAIT_SEC_DEFAULT);
  if (typeof wait === 'string') return wait;
  return { after, limit, waitMs: wait * 1000, sse };
}

function answerEvents(reply: HttpReply, after: number, events: readonly OutcomeEvent[]): void {
  const last = events.length > 0 ? events[events.length - 1]!.offset : after;
  reply.count('ok');
  reply.res.writeStatus('200 OK').writeHeader('content-type', 'application/x-ndjson')
    .writeHeader('cache-control', 'no-store').writeHeader(LAST_OFFSET_HEADER, String(last))
    .end(eventLines(events));
}

/** The NDJSON long-poll: at once when there are events (or no wait), else when one comes or `wait` passes. */
function longPoll(reply: HttpReply, feed: EventFeed, query: EventsQuery): void {
  const { after, limit } = query;
  const events = feed.reader.after(after, limit);
  if (events.length > 0 || query.waitMs === 0 || feed.closing) return answerEvents(reply, after, events);
  if (!feed.openStream()) return reply.refuse('overloaded');
  const { res } = reply;
  let open = true;
  const release = (): boolean => {
    if (!open) return false;
    open = false;
    feed.closeStream();
    return true;
  };
  const cancel = feed.waitPast(after, Date.now() + query.waitMs, () => {
    if (!release() || reply.aborted) return;
    const later = feed.reader.after(after, limit);
    reply.cork(() => answerEvents(reply, after, later));
  });
  res.aborted = false;
  res.onAborted(() => {
    res.aborted = true;
    cancel();
    release();
  });
}

/** One event as Server-Sent Events write it: the offset as its id, the same JSON as a long-poll line. */
function sseEvent(event: OutcomeEvent): string {
  return `id: ${event.offset}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * The Server-Sent Events stream: writes a page of events, waits for the
 * socket to drain when it is full, and when there are none waits for the
 * next commit or the heartbeat. Ends when the client leaves or the engine stops.
 */
async function stream(reply: HttpReply, feed: EventFeed, query: EventsQuery): Promise<void> {
  if (!feed.openStream()) return reply.refuse('overloaded');
  const { res } = reply;
  // Whatever the stream awaits, the client leaving ends that wait.
  let resume: (() => void) | null = null;
  let cancelWait: () => void = () => undefined;
  res.aborted = false;
  res.onAborted(() => {
    res.aborted = true;
    cancelWait();
    resume?.();
  });
  const pause = (start: (done: () => void) => void): Promise<void> => new Promise((resolve) => {
    resume = resolve;
    start(resolve);
  });
  try {
    reply.count('ok');
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream')
        .writeHeader('cache-control', 'no-store').write(`: events after ${query.after}\n\n`);
    });
    let cursor = query.after;
    while (!res.aborted && !feed.closing) {
      const events = feed.reader.after(cursor, query.limit);
      if (events.length === 0) {
        await pause((done) => (cancelWait = feed.waitPast(cursor, Date.now() + EVENTS_HEARTBEAT_MS, done)));
        if (!res.aborted && feed.head() <= cursor) res.cork(() => res.write(': heartbeat\n\n'));
        continue;
      }
      cursor = events[events.length - 1]!.offset;
      let writable = true;
      res.cork(() => (writable = res.write(events.map(sseEvent).join(''))));
      // Backpressure: the next page is read only once the socket took this one.
      if (!writable && !res.aborted) await pause((done) => res.onWritable(() => (done(), true)));
    }
    if (!res.aborted) res.cork(() => res.end());
  } finally {
    feed.closeStream();
  }
}

/** GET /admin/events; the caller checks the admin token first. */
export function eventsRoute(feed: EventFeed, onError: (error: Error) => void): RouteHandler {
  return (reply: HttpReply, req: HttpRequest) => {
    const query = eventsQuery(req);
    if (typeof query === 'string') return reply.refuseWithMessage('bad_request', query);
    if (!query.sse) return longPoll(reply, feed, query);
    void stream(reply, feed, query).catch((error: Error) => {
      onError(error);
      closeQuietly(reply.res);
    });
  };
}

function closeQuietly(res: HttpResponse): void {
  if (!res.aborted) res.close();
}
