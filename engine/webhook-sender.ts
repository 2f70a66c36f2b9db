// `--webhook URL`: POSTs the outcome stream to the shop, in order, at least
// once per event. Runs on the main thread, which holds the database: it reads
// the events after its durable cursor (a `meta` row), sends at most
// WEBHOOK_BATCH_EVENTS_MAX of them as one NDJSON body, and moves the cursor
// past them only after a 2xx answer, in SQLite, before the next batch. A
// failure (an error, a timeout, any other status) sends the same batch
// again after a backoff: WEBHOOK_BACKOFF_FIRST_MS doubling up to
// WEBHOOK_BACKOFF_MAX_MS, each jittered, so that many engines do not retry
// in step. After a kill -9 the batch in flight is sent again; a receiver
// drops what it has by offset (X-Flash-Last-Offset, or each event's own).
//
// With FLASH_WEBHOOK_SECRET the body is signed: `X-Flash-Signature:
// sha256=<hex HMAC-SHA256 of the body>`, so the receiver knows the engine
// sent it.

import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type pino from 'pino';
import { readMeta, writeMeta, type Db } from '../persistence/database';
import { eventLines } from '../persistence/outcome-events';
import {
  WEBHOOK_BACKOFF_FIRST_MS, WEBHOOK_BACKOFF_MAX_MS, WEBHOOK_BATCH_EVENTS_MAX, WEBHOOK_TIMEOUT_MS,
} from './constants';
import type { EventFeed } from './event-feed';

/** The `meta` row holding the offset of the last event the receiver acknowledged. */
export const WEBHOOK_CURSOR_KEY = 'webhook_delivered_offset';
/** How long an idle sender waits before it looks again (a new event wakes it sooner). */
const IDLE_WAIT_MS = 60_000;

export interface WebhookOptions {
  url: URL;
  secret: string | null;
  db: Db;
  feed: EventFeed;
  log: pino.Logger;
  /** Jitter source, in [0, 1). */
  random?: () => number;
}

export class WebhookSender {
  /** The offset of the last event the receiver acknowledged (kept in SQLite). */
  delivered: number;
  /** POSTs that failed since start-up. */
  failures = 0;
  private stopping = false;
  /** Ends what the loop waits for now: the feed, a backoff, or a POST in flight. */
  private interrupt: () => void = () => undefined;
  private loop: Promise<void> = Promise.resolve();
  private readonly client: typeof http | typeof https;

  constructor(private readonly options: WebhookOptions) {
    const stored = readMeta(options.db, WEBHOOK_CURSOR_KEY);
    this.delivered = stored === null ? 0 : Number(stored);
    // Only this sender writes the row; anything but an offset there was written by hand.
    if (!Number.isSafeInteger(this.delivered) || this.delivered < 0) {
      throw new Error(`meta ${WEBHOOK_CURSOR_KEY} holds "${stored}", not an event offset`);
    }
    this.client = options.url.protocol === 'https:' ? https : http;
  }

  start(): void {
    const { url, secret, log } = this.options;
    log.info({ url: redacted(url), after: this.delivered, signed: secret !== null }, 'webhook sender started');
    this.loop = this.run().catch((error: Error) => {
      this.options.log.error({ err: error }, 'webhook sender stopped by an error');
    });
  }

  /** Stops sending: a POST in flight is abandoned (its events are sent again at the next start). */
  stop(): Promise<void> {
    this.stopping = true;
    this.interrupt();
    return this.loop;
  }

  private async run(): Promise<void> {
    const { feed, db } = this.options;
    let backoffMs = WEBHOOK_BACKOFF_FIRST_MS;
    while (!this.stopping) {
      const events = feed.reader.after(this.delivered, WEBHOOK_BATCH_EVENTS_MAX);
      if (events.length === 0) {
        await this.pause((done) => feed.waitPast(this.delivered, Date.now() + IDLE_WAIT_MS, done));
        continue;
      }
      const last = events[events.length - 1]!.offset;
      const status = await this.post(eventLines(events), events[0]!.offset, last);
      if (this.stopping) break;
      if (status >= 200 && status < 300) {
        this.delivered = last;
        writeMeta(db, WEBHOOK_CURSOR_KEY, String(last));
        backoffMs = WEBHOOK_BACKOFF_FIRST_MS;
        continue;
      }
      this.failures++;
      const waitMs = backoffMs * (0.5 + (this.options.random ?? Math.random)() / 2);
      this.options.log.warn({ status, first: events[0]!.offset, last, retryInMs: Math.round(waitMs) },
        'webhook delivery failed; the batch will be sent again');
      await this.pause((done) => {
        const timer = setTimeout(done, waitMs);
        return () => clearTimeout(timer);
      });
      backoffMs = Math.min(WEBHOOK_BACKOFF_MAX_MS, backoffMs * 2);
    }
  }

  /** Waits for what `start` begins; stop() ends the wait early through the canceller `start` returns. */
  private pause(start: (done: () => void) => () => void): Promise<void> {
    return new Promise((resolve) => {
      const cancel = start(resolve);
      this.interrupt = () => {
        cancel();
        resolve();
      };
    });
  }

  /** POSTs one batch; resolves with the status, or 0 for an error or timeout (never rejects). */
  private post(body: string, first: number, last: number): Promise<number> {
    const { url, secret } = this.options;
    const headers: Record<string, string> = {
      'content-type': 'application/x-ndjson',
      'content-length': String(Buffer.byteLength(body)),
      'x-flash-first-offset': String(first),
      'x-flash-last-offset': String(last),
    };
    if (secret !== null) headers['x-flash-signature'] = `sha256=${signature(secret, body)}`;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (status: number): void => {
        if (settled) return;
        settled = true;
        resolve(status);
      };
      const request = this.client.request(url, { method: 'POST', headers, timeout: WEBHOOK_TIMEOUT_MS }, (answer) => {
        // The answer counts once it is whole: a receiver that dies mid-answer has not acknowledged.
        answer.resume();
        answer.on('end', () => settle(answer.statusCode ?? 0));
        answer.on('error', () => settle(0));
      });
      request.on('timeout', () => request.destroy(new Error('webhook request timed out')));
      request.on('error', (error) => {
        this.options.log.debug({ err: error }, 'webhook request failed');
        settle(0);
      });
      this.interrupt = () => {
        request.destroy();
        settle(0);
      };
      request.end(body);
    });
  }
}

/** The hex HMAC-SHA256 of a webhook body: what X-Flash-Signature carries after `sha256=`. */
export function signature(secret: string, body: string): string {
  return crypto.createHmac('sha256', secret).update(body).digest('hex');
}

/** The URL without credentials, for the log. */
function redacted(url: URL): string {
  const copy = new URL(url);
  copy.username = '';
  copy.password = '';
  return copy.toString();
}
