// A consumer of the outcome stream (GET /admin/events) for black-box tests:
// NDJSON long-polls, and a Server-Sent Events client that collects events
// as they arrive and can be cut off mid-stream, as a shop's consumer would
// be when it dies.

import http from 'node:http';
import { ADMIN_TOKEN, request } from './engine-process';

export interface StreamEvent {
  offset: number;
  type: string;
  order: string;
  item: string | null;
  user: number;
  state: string;
  at: number;
  payBy: number | null;
}

export const ADMIN_HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** One long-poll: the events of the answer, its status and its X-Flash-Last-Offset. */
export async function pollEvents(port: number, query: string): Promise<{
  status: number; events: StreamEvent[]; lastOffset: number; body: string;
}> {
  const reply = await request(port, 'GET', `/admin/events?${query}`, { headers: ADMIN_HEADERS });
  const events = reply.status === 200
    ? reply.body.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as StreamEvent)
    : [];
  return { status: reply.status, events, lastOffset: Number(reply.headers['x-flash-last-offset']), body: reply.body };
}

/** Reads every event after `after` with long-polls of `limit` that do not wait, until an empty answer. */
export async function readAllEvents(port: number, after = 0, limit = 1000): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for (let cursor = after; ;) {
    const { status, events } = await pollEvents(port, `after=${cursor}&limit=${limit}&wait=0`);
    if (status !== 200) throw new Error(`GET /admin/events answered ${status}`);
    if (events.length === 0) return all;
    all.push(...events);
    cursor = events[events.length - 1]!.offset;
  }
}

/** Polls until at least `count` events after `after` are there, at most `timeoutMs`. */
export async function eventsUntil(port: number, count: number, timeoutMs = 10_000, after = 0): Promise<StreamEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await readAllEvents(port, after);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A Server-Sent Events consumer: `events` grows as they arrive; `close()` cuts the connection. */
export class SseConsumer {
  readonly events: StreamEvent[] = [];
  readonly ids: number[] = [];
  comments = 0;
  status = 0;
  contentType = '';
  private request: http.ClientRequest;
  private buffered = '';
  readonly ended: Promise<void>;

  constructor(port: number, query: string, lastEventId?: number) {
    const headers: Record<string, string> = { ...ADMIN_HEADERS, accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
    let ended: () => void = () => undefined;
    this.ended = new Promise((resolve) => (ended = resolve));
    this.request = http.get({ host: '127.0.0.1', port, path: `/admin/events?${query}`, headers }, (res) => {
      this.status = res.statusCode ?? 0;
      this.contentType = String(res.headers['content-type'] ?? '');
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.take(chunk));
      res.on('end', ended);
      res.on('error', ended);
      res.on('close', ended);
    });
    this.request.on('error', ended);
  }

  private take(chunk: string): void {
    this.buffered += chunk;
    let end: number;
    while ((end = this.buffered.indexOf('\n\n')) !== -1) {
      const block = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      let id: number | null = null;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments++;
        else if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('data: ')) this.events.push(JSON.parse(line.slice(6)) as StreamEvent);
      }
      if (id !== null) this.ids.push(id);
    }
  }

  /** Waits until at least `count` events arrived, at most `timeoutMs`; returns how many did. */
  async waitFor(count: number, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.events.length;
  }

  close(): void {
    this.request.destroy();
  }
}

/** Whether offsets are exactly first, first + 1, …: no gap and no duplicate. */
export function contiguous(offsets: readonly number[], first = 1): boolean {
  return offsets.every((offset, i) => offset === first + i);
}
