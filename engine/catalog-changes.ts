// Admin changes that every HTTP thread must see: items created, updated,
// restocked, paused, deleted, and bans. Each thread keeps its own catalog
// and ban list (the buy path reads them without a lock), so the main
// thread, where the admin API runs, applies a change to its own copy and
// then to every other thread's, and answers the admin only once all of them
// applied it: a buy that arrives after the answer, on any thread, sees the
// change. The wait is short and bounded (CHANGE_ACK_MS): a thread applies a
// change in its next event-loop turn.

import type pino from 'pino';
import type { StoredItem } from '../persistence/database';
import type { BanList } from './ban-list';
import type { ItemCatalog } from './item-catalog';

export type CatalogChange =
  | { kind: 'add'; index: number; item: StoredItem }
  | { kind: 'update'; index: number; item: StoredItem }
  | { kind: 'paused'; index: number; paused: boolean }
  | { kind: 'stock'; index: number; stock: number }
  | { kind: 'remove'; index: number }
  | { kind: 'ban' | 'unban'; ban: 'user' | 'address'; value: string };

/** How long the main thread waits for every other HTTP thread to apply a change. */
const CHANGE_ACK_MS = 2000;

/**
 * Applies `change` to one thread's catalog and bans. A banned range's text
 * is written back into `change` as the ban list keeps it, so every thread keeps the same text.
 */
export function applyChange(catalog: ItemCatalog, bans: BanList, change: CatalogChange): void {
  switch (change.kind) {
    case 'add': {
      const index = catalog.add({ ...change.item });
      if (index !== change.index) throw new Error(`item ${change.item.id} added at ${index}, not ${change.index}`);
      return;
    }
    case 'update':
      return catalog.update(change.index, { ...change.item });
    case 'paused':
      catalog.paused[change.index] = change.paused ? 1 : 0;
      catalog.items[change.index]!.paused = change.paused;
      return catalog.invalidate();
    case 'stock':
      catalog.items[change.index]!.stock = change.stock;
      return catalog.invalidate();
    case 'remove':
      return catalog.remove(change.index);
    case 'ban':
      if (change.ban === 'user') bans.banUser(Number(change.value));
      else change.value = bans.banRange(change.value).text;
      return;
    case 'unban':
      if (change.ban === 'user') bans.unbanUser(Number(change.value));
      else bans.unbanRange(change.value);
  }
}

/** The other HTTP threads, as the main thread reaches them: a message each, and a shared count of acks. */
export interface ChangeReplicas {
  /** How many threads apply each change. */
  readonly count: number;
  /** Posts the change to every other thread; each adds 1 to `acks` once it applied it. */
  post(change: CatalogChange): void;
  /** Int32Array(1) on shared memory: changes applied, summed over the threads. */
  readonly acks: Int32Array;
}

/** The main thread's side: apply here, then everywhere else, then return. */
export class CatalogChanges {
  constructor(private readonly catalog: ItemCatalog, private readonly bans: BanList,
    private replicas: ChangeReplicas | null, private readonly log: pino.Logger) {}

  /** The other HTTP threads, once started; every change from then on reaches them. */
  attach(replicas: ChangeReplicas): void {
    this.replicas = replicas;
  }

  apply(change: CatalogChange): void {
    applyChange(this.catalog, this.bans, change);
    const replicas = this.replicas;
    if (replicas === null || replicas.count === 0) return;
    const target = Atomics.load(replicas.acks, 0) + replicas.count;
    replicas.post(change);
    const deadline = performance.now() + CHANGE_ACK_MS;
    for (;;) {
      const acks = Atomics.load(replicas.acks, 0);
      if (acks >= target) return;
      const left = deadline - performance.now();
      // The main thread blocks here: no other thread ever waits on it, so this cannot deadlock.
      if (left <= 0 || Atomics.wait(replicas.acks, 0, acks, left) === 'timed-out') break;
    }
    this.log.error({ change: change.kind, waitedMs: CHANGE_ACK_MS },
      'an HTTP thread did not apply an admin change in time; it will when its event loop turns');
  }
}

/** A thread's side: apply a change that arrived, then count it. */
export function applyReplicated(catalog: ItemCatalog, bans: BanList, change: CatalogChange, acks: Int32Array): void {
  applyChange(catalog, bans, change);
  Atomics.add(acks, 0, 1);
  Atomics.notify(acks, 0);
}
