// Proves the items service (engine/items-service.ts) against a real SQLite
// database, a real catalog and a recording stand-in for the shards: a new
// item reaches the database, then shared memory, then its shard, then the
// catalog (checked at the moment the shard receives it); restock goes to
// the database and then the shard, never to `left` directly; every refusal
// carries the code and the exact message the admin API answers with; and
// every change is audited.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { openDatabase, readAdminActions, readItems, upsertItem, type Db, type StoredItem }
  from '../../persistence/database';
import { ITEMS_MAX, STOCK_MAX } from '../../engine/constants';
import { SETTING, SETTING_FIELDS } from '../../engine/item-book';
import { BanList } from '../../engine/ban-list';
import { CatalogChanges } from '../../engine/catalog-changes';
import { ItemCatalog } from '../../engine/item-catalog';
import { ItemCounters } from '../../engine/item-counters';
import { ItemRefusal, ItemsService } from '../../engine/items-service';
import type { ItemDefinition } from '../../persistence/item-definition';
import { COUNTER, COUNTER_FIELDS, OP } from '../../engine/shard';
import type { ShardDispatcher } from '../../engine/shard-dispatcher';

const HOUR_MS = 3_600_000;
const CALLER = { actor: 'tester', address: '127.0.0.1' };

interface AddItemCall {
  id: string;
  index: number;
  rowInDatabase: boolean;
  left: number;
  endsAtSetting: number;
  inCatalog: boolean;
}

interface DispatchCall {
  reply: unknown;
  op: number;
  index: number;
  sequence: number;
}

interface Fixture {
  db: Db;
  catalog: ItemCatalog;
  service: ItemsService;
  counters: Float64Array;
  added: AddItemCall[];
  dispatched: DispatchCall[];
}

function definition(id: string, overrides: Partial<ItemDefinition> = {}): ItemDefinition {
  const startsAt = Date.now() + HOUR_MS;
  return {
    id, name: id, price: 100, stock: 5, perUserLimit: 1, startsAt, endsAt: startsAt + HOUR_MS, mode: 'order',
    payWindowSec: 900, challenge: false, fairWindowMs: 0, ...overrides,
  };
}

/** A database holding `items`, the catalog over them, and shards that record what they are handed. */
function setUp(t: Test, items: ItemDefinition[]): Fixture {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-items-'));
  const db = openDatabase(dataDir, { fsync: false });
  t.teardown(() => {
    db.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  for (const item of items) upsertItem(db, item, 0);
  const left = new Int32Array(ITEMS_MAX);
  const settings = new Float64Array(ITEMS_MAX * SETTING_FIELDS);
  const stored = readItems(db);
  stored.forEach((item, index) => (left[index] = item.stock));
  const catalog = new ItemCatalog(stored, 'ticket-secret', left, settings);
  const counters = new Float64Array(ITEMS_MAX * COUNTER_FIELDS);
  const added: AddItemCall[] = [];
  const dispatched: DispatchCall[] = [];
  const shards = {
    left, counters,
    addItem(item: StoredItem, index: number): void {
      added.push({
        id: item.id, index, rowInDatabase: readItems(db).some((row) => row.row === item.row),
        left: Atomics.load(left, index), endsAtSetting: settings[index * SETTING_FIELDS + SETTING.endsAt]!,
        inCatalog: catalog.byId.has(item.id),
      });
    },
    dispatch(reply: unknown, op: number, index: number, _userId: number, sequence: number): void {
      dispatched.push({ reply, op, index, sequence });
    },
  } as unknown as ShardDispatcher;
  const log = pino({ level: 'silent' });
  const counts = new ItemCounters(catalog, counters, [catalog.refusals]);
  const changes = new CatalogChanges(catalog, new BanList(), null, log);
  const service = new ItemsService(db, catalog, shards, counts, changes, log);
  return { db, catalog, service, counters, added, dispatched };
}

/** The refusal `change` throws, as { code, detail }. */
function refusalOf(change: () => unknown): { code: string; detail: string | null } | string {
  try {
    change();
  } catch (error) {
    if (error instanceof ItemRefusal) return { code: error.code, detail: error.detail };
    throw error;
  }
  return 'not refused';
}

function actions(db: Db): string[] {
  return readAdminActions(db, 100).reverse().map((action) => `${action.action} ${JSON.stringify(action.detail)}`);
}

t.test('create publishes database, shared memory, shard, then catalog', async (t) => {
  const f = setUp(t, [definition('first')]);
  const item = definition('second', { stock: 7 });
  const index = f.service.create(item, CALLER);
  t.equal(index, 1, 'the next index');
  const handed = { id: 'second', index: 1, rowInDatabase: true, left: 7, endsAtSetting: item.endsAt, inCatalog: false };
  t.same(f.added, [handed],
    'when the shard got it: in the database, left and settings published, not yet findable by any route');
  t.equal(f.catalog.byId.get('second'), 1, 'then the catalog finds it');
  const row = readItems(f.db).find((stored) => stored.id === 'second')!.row;
  t.equal(f.catalog.items[1]!.row, row, 'under the row the database gave');
  t.same(actions(f.db), [`create ${JSON.stringify({ item: 'second', definition: item })}`]);
});

t.test('create refuses an id that exists, with its message, and changes nothing', async (t) => {
  const f = setUp(t, [definition('first')]);
  t.same(refusalOf(() => f.service.create(definition('first'), CALLER)),
    { code: 'item_exists', detail: 'item "first" exists' });
  t.same(f.added, []);
  t.equal(readItems(f.db).length, 1);
  t.same(actions(f.db), []);
});

t.test('update changes the database, the catalog and the shared settings', async (t) => {
  const f = setUp(t, [definition('a')]);
  const endsAt = f.catalog.items[0]!.endsAt + HOUR_MS;
  f.service.update(0, { price: 250, endsAt }, CALLER);
  t.equal(readItems(f.db)[0]!.price, 250);
  t.equal(f.catalog.items[0]!.price, 250);
  t.equal(f.catalog.settings[SETTING.endsAt], endsAt, 'the shard reads the new end from shared memory');
  t.same(actions(f.db), [`update ${JSON.stringify({ item: 'a', patch: { price: 250, endsAt } })}`]);
});

t.test('update refusals carry the code and the exact message', async (t) => {
  const now = Date.now();
  const f = setUp(t, [definition('a'), definition('live', { startsAt: now - HOUR_MS, endsAt: 4_102_444_800_000 }),
    definition('r', { mode: 'reserve' })]);
  t.same(refusalOf(() => f.service.update(0, { stock: 9 }, CALLER)),
    { code: 'bad_request', detail: 'field "stock" cannot be updated (stock: use restock)' });
  t.same(refusalOf(() => f.service.update(1, { price: 1 }, CALLER)),
    { code: 'item_live', detail: 'item "live" is live until 2100-01-01T00:00:00.000Z' });
  t.same(refusalOf(() => f.service.update(0, { price: -1 }, CALLER)),
    { code: 'bad_request', detail: 'item "a": field "price" must be an integer >= 0 (minor currency units)' });
  f.counters[2 * COUNTER_FIELDS + COUNTER.won] = 3;
  f.counters[2 * COUNTER_FIELDS + COUNTER.paid] = 1;
  t.same(refusalOf(() => f.service.update(2, { payWindowSec: 60 }, CALLER)),
    { code: 'reservations_open', detail: '2 reservations made under the old pay window are still open' });
  f.service.update(2, { price: 5 }, CALLER);
  t.equal(f.catalog.items[2]!.price, 5, 'open reservations do not stop a change that keeps the pay window');
  t.equal(readItems(f.db)[0]!.price, 100, 'the refused changes left the database as it was');
});

t.test('restock goes to the database, then to the shard, which alone publishes left', async (t) => {
  const f = setUp(t, [definition('a')]);
  const reply = { answered: false };
  f.service.restock(0, 3, CALLER, reply as unknown as Parameters<ShardDispatcher['dispatch']>[0]);
  t.equal(readItems(f.db)[0]!.stock, 8);
  t.equal(f.catalog.items[0]!.stock, 8);
  t.equal(Atomics.load(f.catalog.left, 0), 5, 'left waits for the shard');
  t.equal(f.dispatched.length, 1);
  t.equal(f.dispatched[0]!.reply, reply, 'the shard answers the request');
  t.same({ ...f.dispatched[0], reply: null }, { reply: null, op: OP.restock, index: 0, sequence: 3 });
  t.same(actions(f.db), [`restock ${JSON.stringify({ item: 'a', add: 3, stock: 8 })}`]);
  t.same(refusalOf(() => f.service.restock(0, STOCK_MAX - 7, CALLER, reply as never)),
    { code: 'bad_request', detail: null },
    'past STOCK_MAX: the plain bad_request body');
  t.equal(f.dispatched.length, 1, 'nothing reached the shard');
});

t.test('pause and resume reach the database and the flag the buy gate reads', async (t) => {
  const f = setUp(t, [definition('a')]);
  f.service.setPaused(0, true, CALLER);
  t.equal(f.catalog.paused[0], 1);
  t.equal(readItems(f.db)[0]!.paused, true);
  f.service.setPaused(0, false, CALLER);
  t.equal(f.catalog.paused[0], 0);
  t.equal(readItems(f.db)[0]!.paused, false);
  t.same(actions(f.db), ['pause {"item":"a"}', 'resume {"item":"a"}']);
});

t.test('delete refuses an item with orders, then removes one without, for good', async (t) => {
  const f = setUp(t, [definition('a'), definition('b')]);
  f.counters[COUNTER.won] = 2;
  t.same(refusalOf(() => f.service.delete(0, CALLER)),
    { code: 'item_has_orders', detail: 'item "a" has 2 orders; export them, it stays' });
  t.equal(f.service.delete(1, CALLER), 'b');
  t.same(readItems(f.db).map((item) => item.id), ['a']);
  t.equal(f.catalog.byId.has('b'), false);
  t.same(actions(f.db), ['delete {"item":"b"}']);
  t.same(refusalOf(() => f.service.restock(1, 1, CALLER, {} as never)), { code: 'unknown_item', detail: null },
    'a restock whose body arrived after the delete finds no item');
  t.same(refusalOf(() => f.service.update(1, { price: 1 }, CALLER)), { code: 'unknown_item', detail: null });
});
