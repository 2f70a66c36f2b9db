// Server pushes on the WebSocket, one pub/sub topic per item, which every
// connection joins: `start` the moment an item starts (a timer aligned to
// the earliest coming start or end, so no polling decides the start second),
// `ended` at its end, and `stock` at most STOCK_PUSH_MS apart per item
// while its count changes, with `sold_out` once it reaches zero, and
// `waitlist` as often with the highest waitlist place offered a unit
// (`served`), so a waiting client knows when to fetch its offer. Publishing
// is uWebSockets.js's: one call per push, fanned out in C++.

import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { ItemCatalog } from './item-catalog';
import { ITEMS_MAX } from './constants';
import { packr, type Connection } from './ws-reply';

/** Stock pushes per item at most every 100 ms: the contract allows 10 a second. */
export const STOCK_PUSH_MS = 100;
/** The start/end timer never sleeps longer than this, so an admin's new times are seen soon. */
const TIMER_MAX_MS = 1000;

export class SalePushes {
  private readonly topics: string[] = [];
  /** The startsAt/endsAt each item's start/end was announced for (a new round announces again). */
  private readonly announcedStart = new Float64Array(ITEMS_MAX).fill(-1);
  private readonly announcedEnd = new Float64Array(ITEMS_MAX).fill(-1);
  private readonly lastLeft = new Int32Array(ITEMS_MAX).fill(-1);
  /** The `served` last pushed per item; a place is never served twice, so it only grows. */
  private readonly lastServed = new Int32Array(ITEMS_MAX);
  private readonly stockTimer: NodeJS.Timeout;
  private edgeTimer: NodeJS.Timeout | null = null;
  /** Items at boot; those after them were added by an admin while the engine ran. */
  private readonly bootItems: number;

  constructor(private readonly app: TemplatedApp, private readonly catalog: ItemCatalog,
    private readonly sockets: Set<WebSocket<Connection>>,
    private readonly onStart: (itemId: string, delayMs: number, clients: number, publishMs: number) => void,
    /** The owning shards' highest waitlist place served per item (shared-state.ts); a test's pushes have none. */
    private readonly served: Int32Array | null = null) {
    const now = Date.now();
    // Items already live or over at boot were announced before: only changes from now on are pushed.
    this.bootItems = catalog.items.length;
    for (let i = 0; i < catalog.items.length; i++) this.markCurrent(i, now);
    this.stockTimer = setInterval(() => this.tick(), STOCK_PUSH_MS);
    this.stockTimer.unref();
    this.scheduleEdge(now);
  }

  /** Joins a new connection to every item's topic. */
  subscribe(ws: WebSocket<Connection>): void {
    this.ensureTopics();
    for (let i = 0; i < this.topics.length; i++) if (this.catalog.deleted[i] === 0) ws.subscribe(this.topics[i]!);
  }

  stop(): void {
    clearInterval(this.stockTimer);
    if (this.edgeTimer !== null) clearTimeout(this.edgeTimer);
  }

  private markCurrent(index: number, now: number): void {
    const item = this.catalog.items[index]!;
    if (now >= item.startsAt) this.announcedStart[index] = item.startsAt;
    if (now >= item.endsAt) this.announcedEnd[index] = item.endsAt;
    this.lastLeft[index] = Atomics.load(this.catalog.left, index);
    if (this.served !== null) this.lastServed[index] = Atomics.load(this.served, index);
  }

  /** Topics for items an admin added since; open connections join them too. */
  private ensureTopics(): void {
    const items = this.catalog.items;
    while (this.topics.length < items.length) {
      const index = this.topics.length;
      const topic = `item/${items[index]!.id}`;
      this.topics.push(topic);
      if (index < this.bootItems) this.markCurrent(index, Date.now());
      else {
        // Added by an admin: if it is already live its start is news, pushed
        // on the next tick; if it is already over, there is nothing to tell.
        const item = items[index]!;
        if (Date.now() >= item.endsAt) {
          this.announcedStart[index] = item.startsAt;
          this.announcedEnd[index] = item.endsAt;
        }
        this.lastLeft[index] = Atomics.load(this.catalog.left, index);
      }
      for (const ws of this.sockets) if (!ws.getUserData().closed) ws.subscribe(topic);
    }
  }

  private publish(index: number, frame: Record<string, unknown>): void {
    this.app.publish(this.topics[index]!, packr.pack(frame), true);
  }

  /** Starts and ends that are due (in case an admin moved one), then stock changes. */
  private tick(): void {
    const now = Date.now();
    this.tickStartsAndEnds(now);
    const { catalog } = this;
    for (let i = 0; i < catalog.items.length; i++) {
      const left = Atomics.load(catalog.left, i);
      if (left === this.lastLeft[i] || catalog.deleted[i] === 1) continue;
      this.lastLeft[i] = left;
      if (this.sockets.size === 0) continue;
      this.publish(i, { op: 'stock', item: catalog.items[i]!.id, left });
      if (left === 0) this.publish(i, { op: 'sold_out', item: catalog.items[i]!.id });
    }
    if (this.served !== null) this.tickServed(this.served);
  }

  /** A `waitlist` push per item whose highest place served grew since the last tick. */
  private tickServed(served: Int32Array): void {
    const { catalog } = this;
    for (let i = 0; i < this.topics.length; i++) {
      const now = Atomics.load(served, i);
      if (now === this.lastServed[i] || catalog.deleted[i] === 1) continue;
      this.lastServed[i] = now;
      if (this.sockets.size > 0) this.publish(i, { op: 'waitlist', item: catalog.items[i]!.id, served: now });
    }
  }

  /** One timer, set for the earliest start or end still to come. */
  private scheduleEdge(now: number): void {
    let next = now + TIMER_MAX_MS;
    for (const item of this.catalog.items) {
      if (item.startsAt > now && item.startsAt < next) next = item.startsAt;
      if (item.endsAt > now && item.endsAt < next) next = item.endsAt;
    }
    this.edgeTimer = setTimeout(() => {
      this.edgeTimer = null;
      this.tickEdges();
    }, Math.max(1, next - now));
    this.edgeTimer.unref();
  }

  private tickEdges(): void {
    // Timers run on a monotonic clock; if the wall clock has not reached the
    // edge yet, the next schedule is a millisecond or two away.
    this.tickStartsAndEnds(Date.now());
    this.scheduleEdge(Date.now());
  }

  private tickStartsAndEnds(now: number): void {
    this.ensureTopics();
    const { catalog } = this;
    for (let i = 0; i < catalog.items.length; i++) {
      if (catalog.deleted[i] === 1) continue;
      const item = catalog.items[i]!;
      if (now >= item.startsAt && now < item.endsAt && this.announcedStart[i] !== item.startsAt) {
        this.announcedStart[i] = item.startsAt;
        const publishStarted = performance.now();
        this.publish(i, { op: 'start', item: item.id, buyPath: catalog.buyPath(i) });
        this.onStart(item.id, now - item.startsAt, this.sockets.size, performance.now() - publishStarted);
        // An item that starts with nothing left (stock 0) never changes count: say so with the start.
        if (Atomics.load(catalog.left, i) === 0) this.publish(i, { op: 'sold_out', item: item.id });
      }
      if (now >= item.endsAt && this.announcedEnd[i] !== item.endsAt) {
        this.announcedEnd[i] = item.endsAt;
        this.publish(i, { op: 'ended', item: item.id });
      }
    }
  }
}
