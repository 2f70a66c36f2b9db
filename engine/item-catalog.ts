// The HTTP thread's view of the items: their definitions, indexes by id and
// by row, tickets, prebuilt answer fragments, and the public JSON bodies of
// /api/items, /api/items/:id and /sale.js, rebuilt at most every
// CATALOG_CACHE_MS (the contract allows 1 s of staleness) and at every start
// or end, so a buy path never appears late by more than one rebuild and
// never early.

import type { StoredItem } from '../persistence/database';
import assert from 'node:assert/strict';
import { CATALOG_CACHE_MS, ITEMS_MAX } from './constants';
import { BUY_REFUSALS, type BuyRefusal } from './error-catalog';
import { deriveTicket } from './ticket';
import { fairKeyOf, fairSeed, seedHashOf } from './fair-draw';
import { drawAtOf, writeSettings } from './item-book';

export type ItemState = 'upcoming' | 'live' | 'sold_out' | 'ended';

/**
 * Per-item refusal counters of the HTTP thread: the slot of each buy
 * refusal of the error catalog, in catalog order. Keyed by error code, so
 * a refusal is counted under the name it is answered with.
 */
export const REFUSAL = Object.fromEntries(BUY_REFUSALS.map((code, slot) => [code, slot])) as
  Readonly<Record<BuyRefusal, number>>;
export const REFUSAL_FIELDS = BUY_REFUSALS.length;

interface CachedBody {
  body: Buffer;
  validUntil: number;
}

export class ItemCatalog {
  readonly byId = new Map<string, number>();
  readonly byRow = new Map<number, number>();
  /** 1 while an admin has the item paused; read on every buy. Sized for ITEMS_MAX. */
  readonly paused = new Uint8Array(ITEMS_MAX);
  /** 1 once an admin deleted the item: its index stays taken until restart, so no index moves. */
  readonly deleted = new Uint8Array(ITEMS_MAX);
  private listCache: CachedBody = { body: Buffer.alloc(0), validUntil: 0 };
  private scriptCache: CachedBody = { body: Buffer.alloc(0), validUntil: 0 };

  /** Tickets are derived from the start time, so a new round needs the secret again. */
  private readonly ticketSecret: string;
  /** The key of the fair windows' seeds (fair-draw.ts), from the same secret. */
  private readonly fairKey: string;

  readonly items: StoredItem[] = [];
  readonly tickets: string[] = [];
  /** Per item with a fair window, its seed (hex) and the seed's hash, derived as tickets are; null without one. */
  private readonly fairSeeds: ({ seed: string; seedHash: string } | null)[] = [];
  readonly idBytes: Buffer[] = [];
  readonly notStartedBodies: Buffer[] = [];
  private readonly itemCaches: CachedBody[] = [];

  /**
   * `refusals`: the buys this HTTP thread refuses itself, per item
   * (REFUSAL slots), for stats and metrics; the shard counts its own
   * (shard.ts COUNTER), and item-counters.ts reads both. ITEMS_MAX *
   * REFUSAL_FIELDS (15 buy refusals) * 8 B = 12 MB, allocated once, in
   * shared memory (thread-counters.ts) so that the main thread sums them.
   */
  constructor(items: readonly StoredItem[], ticketSecret: string, readonly left: Int32Array,
    readonly settings: Float64Array, readonly refusals: Float64Array = new Float64Array(ITEMS_MAX * REFUSAL_FIELDS)) {
    this.ticketSecret = ticketSecret;
    this.fairKey = fairKeyOf(ticketSecret);
    for (const item of items) this.add(item);
  }

  /** Adds an item at the next index (start-up, or an admin create); returns the index. */
  add(item: StoredItem): number {
    assert.ok(this.items.length < ITEMS_MAX && !this.byId.has(item.id));
    const index = this.items.length;
    this.items.push(item);
    this.byId.set(item.id, index);
    this.byRow.set(item.row, index);
    this.tickets.push(deriveTicket(this.ticketSecret, item.id, item.startsAt));
    this.fairSeeds.push(this.fairSeedOf(item));
    this.idBytes.push(Buffer.from(item.id));
    this.notStartedBodies.push(Buffer.from(JSON.stringify({ error: 'not_started', startsAt: item.startsAt })));
    this.itemCaches.push({ body: Buffer.alloc(0), validUntil: 0 });
    this.paused[index] = item.paused ? 1 : 0;
    this.invalidate();
    return index;
  }

  /** Removes an item from every route (admin delete); its index is never reused before a restart. */
  remove(index: number): void {
    const item = this.items[index]!;
    this.byId.delete(item.id);
    this.byRow.delete(item.row);
    this.deleted[index] = 1;
    this.invalidate();
  }

  /** Indexes of the items that exist: every item not deleted, whatever its sale state (upcoming, live or over). */
  existingIndexes(): number[] {
    const indexes: number[] = [];
    for (let i = 0; i < this.items.length; i++) if (this.deleted[i] === 0) indexes.push(i);
    return indexes;
  }

  state(index: number, nowMs: number): ItemState {
    const item = this.items[index]!;
    if (nowMs < item.startsAt) return 'upcoming';
    if (nowMs >= item.endsAt) return 'ended';
    return Atomics.load(this.left, index) === 0 ? 'sold_out' : 'live';
  }

  /** When the item's fair window closes (0: it has none). */
  drawAt(index: number): number {
    return drawAtOf(this.items[index]!);
  }

  /**
   * The fair window's public fields: its length and the hash of its seed
   * from the start, the seed itself once the window has closed, so that
   * anyone can check the draw (fair-draw.ts).
   */
  private fairFields(index: number, nowMs: number): Record<string, unknown> {
    const item = this.items[index]!;
    const drawAt = drawAtOf(item);
    const { seed, seedHash } = this.fairSeeds[index]!;
    const fields: Record<string, unknown> = { fairWindowMs: item.fairWindowMs, drawAt, seedHash };
    if (nowMs >= drawAt) fields.seed = seed;
    return fields;
  }

  /** The seed of the item's fair window and its hash, once per round (a new start is a new seed). */
  private fairSeedOf(item: StoredItem): { seed: string; seedHash: string } | null {
    const drawAt = drawAtOf(item);
    if (drawAt === 0) return null;
    const seed = fairSeed(this.fairKey, item.row, drawAt);
    return { seed: seed.toString('hex'), seedHash: seedHashOf(seed) };
  }

  buyPath(index: number): string {
    return `/api/buy/${this.items[index]!.id}/${this.tickets[index]}`;
  }

  countRefusal(index: number, refusal: number): void {
    this.refusals[index * REFUSAL_FIELDS + refusal]!++;
  }

  /** Takes an item's new definition (admin update between rounds): times, ticket, limits. */
  update(index: number, item: StoredItem): void {
    const current = this.items[index]!;
    Object.assign(current, item);
    this.tickets[index] = deriveTicket(this.ticketSecret, item.id, item.startsAt);
    this.fairSeeds[index] = this.fairSeedOf(item);
    this.notStartedBodies[index] = Buffer.from(JSON.stringify({ error: 'not_started', startsAt: item.startsAt }));
    writeSettings(this.settings, index, item);
    this.invalidate();
  }

  /** Drops cached bodies after an item changed (pause, restock). */
  invalidate(): void {
    this.listCache.validUntil = 0;
    this.scriptCache.validUntil = 0;
    for (const cache of this.itemCaches) cache.validUntil = 0;
  }

  publicItem(index: number, nowMs: number): Record<string, unknown> {
    const item = this.items[index]!;
    return {
      id: item.id, name: item.name, price: item.price, stock: item.stock, left: Atomics.load(this.left, index),
      perUserLimit: item.perUserLimit, startsAt: item.startsAt, endsAt: item.endsAt, mode: item.mode,
      challenge: item.challenge, state: this.state(index, nowMs), waitlist: item.waitlist === true,
      ...(this.fairSeeds[index] !== null ? this.fairFields(index, nowMs) : {}),
    };
  }

  /** The first start or end after `nowMs`: cached bodies must not outlive it. */
  private nextTransition(nowMs: number): number {
    let next = Infinity;
    for (const item of this.items) {
      if (item.startsAt > nowMs && item.startsAt < next) next = item.startsAt;
      if (item.endsAt > nowMs && item.endsAt < next) next = item.endsAt;
      // The seed is published from the close of the fair window.
      const drawAt = drawAtOf(item);
      if (drawAt > nowMs && drawAt < next) next = drawAt;
    }
    return next;
  }

  private cached(cache: CachedBody, nowMs: number, build: () => string): CachedBody {
    if (nowMs < cache.validUntil) return cache;
    cache.body = Buffer.from(build());
    cache.validUntil = Math.min(nowMs + CATALOG_CACHE_MS, this.nextTransition(nowMs));
    return cache;
  }

  listBody(nowMs: number): Buffer {
    return this.cached(this.listCache, nowMs,
      () => JSON.stringify({ items: this.existingIndexes().map((i) => this.publicItem(i, nowMs)) })).body;
  }

  itemBody(index: number, nowMs: number): Buffer {
    return this.cached(this.itemCaches[index]!, nowMs, () => JSON.stringify(this.publicItem(index, nowMs))).body;
  }

  /** /sale.js: the same states, with buyPath only for items that have started and not ended. */
  saleScript(nowMs: number): Buffer {
    return this.cached(this.scriptCache, nowMs, () => {
      const items = this.existingIndexes().map((i) => {
        const item = this.items[i]!;
        const state = this.publicItem(i, nowMs);
        return nowMs >= item.startsAt && nowMs < item.endsAt ? { ...state, buyPath: this.buyPath(i) } : state;
      });
      return `window.FLASH_SALE = ${JSON.stringify({ now: nowMs, items })};\n`;
    }).body;
  }
}
