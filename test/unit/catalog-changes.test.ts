// Admin changes reach every HTTP thread before the admin is answered
// (engine/catalog-changes.ts): each kind of change leaves a replica on a
// real worker thread (test/helpers/change-replica-worker.ts) saying what the
// main thread's copy says, apply() returns only once the replica
// acknowledged, and a replica that never answers holds apply() for the
// bounded wait only, with an error logged.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type pino from 'pino';
import t from 'tap';
import { BanList } from '../../engine/ban-list';
import { CatalogChanges, type CatalogChange } from '../../engine/catalog-changes';
import { ITEMS_MAX } from '../../engine/constants';
import { SETTING_FIELDS } from '../../engine/item-book';
import { ItemCatalog } from '../../engine/item-catalog';
import type { StoredItem } from '../../persistence/database';
import { stateOf, type ReplicaData, type ReplicaState } from '../helpers/change-replica-worker';

function stored(id: string, row: number): StoredItem {
  return {
    id, name: id, price: 100, stock: 10, perUserLimit: 1, startsAt: 1000, endsAt: 2000, mode: 'order',
    payWindowSec: 600, challenge: false, row, paused: false,
  } as StoredItem;
}

function catalogOf(items: StoredItem[]): ItemCatalog {
  return new ItemCatalog(items.map((item) => ({ ...item })), 'ticket-secret', new Int32Array(ITEMS_MAX),
    new Float64Array(ITEMS_MAX * SETTING_FIELDS));
}

const silent = { error: () => undefined } as unknown as pino.Logger;

t.test('every kind of change leaves the replica as the main thread, acknowledged before apply() returns',
  async (t) => {
  const items = [stored('a', 1), stored('b', 2)];
  const acks = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(path.join(__dirname, '..', 'helpers', 'change-replica-worker.js'),
    { workerData: { items, acks } satisfies ReplicaData });
  t.teardown(() => worker.terminate());
  await new Promise((resolve) => worker.once('message', resolve));
  const catalog = catalogOf(items);
  const bans = new BanList();
  const changes = new CatalogChanges(catalog, bans,
    { count: 1, acks, post: (change) => worker.postMessage(change) }, silent);
  const replica = (): Promise<ReplicaState> => new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage('state');
  });
  const steps: CatalogChange[] = [
    { kind: 'add', index: 2, item: stored('c', 3) },
    { kind: 'paused', index: 0, paused: true },
    { kind: 'stock', index: 1, stock: 25 },
    { kind: 'update', index: 2, item: { ...stored('c', 3), startsAt: 1500 } },
    { kind: 'remove', index: 1 },
    { kind: 'ban', ban: 'user', value: '77' },
    { kind: 'ban', ban: 'address', value: '10.1.2.3/8' },
    { kind: 'unban', ban: 'user', value: '77' },
  ];
  let applied = 0;
  for (const change of steps) {
    changes.apply(change);
    applied++;
    t.equal(Atomics.load(acks, 0), applied, `${change.kind}: acknowledged when apply() returned`);
    t.same(await replica(), stateOf(catalog, bans), `${change.kind}: the replica says what the main thread says`);
  }
  const last = stateOf(catalog, bans);
  t.same(last.ids, ['a', 'c']);
  t.same(last.paused, [1, 0]);
  t.same(last.startsAt, [1000, 1500]);
  t.same(last.ranges, ['10.1.2.3/8'], 'a range travels as the main thread kept it');
  t.same(last.users, []);
});

t.test('a replica that never acknowledges holds apply() for the bounded wait, and it is logged', async (t) => {
  const acks = new Int32Array(new SharedArrayBuffer(4));
  const errors: string[] = [];
  const log = { error: (_fields: unknown, message: string) => errors.push(message) } as unknown as pino.Logger;
  const catalog = catalogOf([stored('a', 1)]);
  const changes = new CatalogChanges(catalog, new BanList(), { count: 1, acks, post: () => undefined }, log);
  const started = performance.now();
  changes.apply({ kind: 'paused', index: 0, paused: true });
  const waited = performance.now() - started;
  t.ok(waited >= 1900 && waited < 5000, `waited ${waited.toFixed(0)} ms`);
  t.equal(errors.length, 1, 'logged once');
  t.equal(catalog.paused[0], 1, 'the main thread applied it');
});
