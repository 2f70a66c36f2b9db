// The main thread's view of the outcome stream: the events table's reader,
// the offset of the newest event (published by the persistence worker in
// shared memory after each commit), and the readers waiting for a newer one.
// One timer looks at that offset every EVENTS_POLL_MS while anyone waits,
// and wakes each waiter whose offset it passed or whose deadline came: the
// long-polls and Server-Sent Event streams of GET /admin/events, and the
// webhook sender. Waiting costs no query; a woken reader reads SQLite once.

import assert from 'node:assert/strict';
import type { EventReader } from '../persistence/outcome-events';
import { EVENT_STREAMS_MAX, EVENTS_POLL_MS } from './constants';

interface Waiter {
  after: number;
  deadlineMs: number;
  wake: () => void;
}

export class EventFeed {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private streams = 0;
  /** Set at shutdown: every waiter has been woken, and readers answer what they have and end. */
  closing = false;

  /** `headView[0]` is the newest event's offset (SharedState.eventsHead). */
  constructor(readonly reader: EventReader, private readonly headView: Float64Array) {}

  /** The offset of the newest event in SQLite. */
  head(): number {
    return this.headView[0]!;
  }

  /**
   * Calls `wake` once, when the newest event's offset passes `after` or at
   * `deadlineMs` (epoch ms), whichever comes first; at once when closing.
   * Returns a function that cancels the wait (no call after it).
   */
  waitPast(after: number, deadlineMs: number, wake: () => void): () => void {
    if (this.closing) {
      setImmediate(wake);
      return () => undefined;
    }
    const waiter: Waiter = { after, deadlineMs, wake };
    this.waiters.add(waiter);
    if (this.timer === null) {
      this.timer = setInterval(() => this.check(), EVENTS_POLL_MS);
      this.timer.unref();
    }
    return () => {
      this.waiters.delete(waiter);
      this.stopTimerIfIdle();
    };
  }

  private check(): void {
    const head = this.head();
    const now = Date.now();
    for (const waiter of this.waiters) {
      if (head <= waiter.after && now < waiter.deadlineMs) continue;
      this.waiters.delete(waiter);
      waiter.wake();
    }
    this.stopTimerIfIdle();
  }

  private stopTimerIfIdle(): void {
    if (this.waiters.size > 0 || this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Takes a slot for a long-poll that waits or a stream; false when EVENT_STREAMS_MAX are taken. */
  openStream(): boolean {
    if (this.streams >= EVENT_STREAMS_MAX) return false;
    this.streams++;
    return true;
  }

  closeStream(): void {
    assert.ok(this.streams > 0, 'an event stream slot is released once');
    this.streams--;
  }

  /** Streams and waiting long-polls open now. */
  get openStreams(): number {
    return this.streams;
  }

  /** At shutdown: wakes every waiter so that each answers what it has, and stops the timer. */
  close(): void {
    this.closing = true;
    const woken = [...this.waiters];
    this.waiters.clear();
    this.stopTimerIfIdle();
    for (const waiter of woken) waiter.wake();
  }
}
