// Proves that a sale definition is checked field by field and refused with a
// SaleDefinitionError whose message names the source, the item (its id and
// index) and the field: for unknown fields, a wrong type in every field,
// duplicate ids, bad id patterns, each numeric field just past its bounds
// (with the bound itself accepted), endsAt not after startsAt, and ISO times
// without a zone. Also proves the defaults that are filled in, that epoch
// milliseconds and zoned ISO times are read to the right instant, that a
// missing or non-JSON file is refused naming the file, and that the embedded
// demo sale passes the same checks.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PER_USER_LIMIT_MAX, STOCK_MAX } from '../../engine/constants';
import { checkItem, checkSale, demoSale, readSaleFile, SaleDefinitionError } from '../../engine/sale-definition';
import type { ItemDefinition } from '../../persistence/item-definition';

const STARTS = 1_900_000_000_000;
const HOUR_MS = 3_600_000;
const PAY_WINDOW_SEC_MAX = 7 * 24 * 3600;

function item(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'phone', name: 'Phone', price: 100, stock: 10, startsAt: STARTS, ...fields };
}

/** Checks that `items` is refused with a message naming the item and the field. */
function refuses(t: Test, raw: unknown, field: string, why: RegExp, label: string,
  where = 'item "phone" (items[0])'): void {
  try {
    checkSale({ items: raw }, 'sale.json');
    t.fail(`${label}: accepted`);
  } catch (error) {
    if (!(error instanceof SaleDefinitionError)) throw error;
    const message = error.message;
    const ok = message.startsWith(`sale.json: ${where}: field "${field}" `) && why.test(message);
    t.ok(ok, `${label}: ${message}`);
  }
}

function accepts(t: Test, fields: Record<string, unknown>, label: string): ItemDefinition | undefined {
  try {
    const [parsed] = checkSale({ items: [item(fields)] }, 'sale.json');
    t.pass(`${label} is accepted`);
    return parsed;
  } catch (error) {
    t.fail(`${label}: ${(error as Error).message}`);
    return undefined;
  }
}

t.test('a minimal item gets the defaults: perUserLimit 1, mode order, payWindowSec 900, challenge false, ' +
  'no fair window, one hour long',
  async (t) => {
  t.same(checkSale({ items: [item()] }, 'sale.json'), [{
    id: 'phone', name: 'Phone', price: 100, stock: 10, perUserLimit: 1, startsAt: STARTS, endsAt: STARTS + HOUR_MS,
    mode: 'order', payWindowSec: 900, challenge: false, fairWindowMs: 0,
  }]);
});

t.test('every field given is kept as given', async (t) => {
  const full = {
    id: 'a-1', name: 'A', price: 0, stock: 0, perUserLimit: 3, startsAt: STARTS, endsAt: STARTS + 1,
    mode: 'reserve', payWindowSec: 60, challenge: true, fairWindowMs: 0,
  };
  t.same(checkItem(full, 'x'), full);
  const fair = { ...full, endsAt: STARTS + 60_001, fairWindowMs: 60_000 };
  t.same(checkItem(fair, 'x'), fair, 'a fair window up to its bound is kept');
  t.same(checkSale({ items: [] }, 'sale.json'), [], 'a sale with no items is valid');
});

t.test('times are read from epoch milliseconds or from ISO 8601 with a zone', async (t) => {
  t.equal(accepts(t, { startsAt: 0, endsAt: 1 }, 'epoch 0')?.startsAt, 0);
  t.equal(accepts(t, { startsAt: 8.64e15 - 1, endsAt: 8.64e15 }, 'the last instant a Date holds')?.endsAt, 8.64e15);
  const z = accepts(t, { startsAt: '2030-01-01T10:00:00Z', endsAt: '2030-01-01T10:00:00.001Z' },
    'ISO with Z and milliseconds');
  t.equal(z?.startsAt, Date.UTC(2030, 0, 1, 10));
  t.equal(z?.endsAt, Date.UTC(2030, 0, 1, 10) + 1);
  const offset = accepts(t, { startsAt: '2030-01-01T10:00+02:00', endsAt: '2030-01-01T10:00-02:00' },
    'ISO with offsets and no seconds');
  t.equal(offset?.startsAt, Date.UTC(2030, 0, 1, 8), '+02:00 is two hours before UTC');
  t.equal(offset?.endsAt, Date.UTC(2030, 0, 1, 12));
  t.equal(accepts(t, { startsAt: '2030-01-01T10:00:00Z' }, 'ISO start with no end')?.endsAt, Date.UTC(2030, 0, 1, 11),
    'endsAt defaults to one hour later');
  // Python's isoformat() writes microseconds: read to the millisecond.
  const micro = accepts(t, { startsAt: '2030-01-01T10:00:00.123456+00:00', endsAt: '2030-01-01T10:00:00.999999999Z' },
    'ISO with 6 and 9 fraction digits');
  t.equal(micro?.startsAt, Date.UTC(2030, 0, 1, 10) + 123, 'microseconds are cut to milliseconds');
  t.equal(micro?.endsAt, Date.UTC(2030, 0, 1, 10) + 999, 'nanoseconds too');
});

t.test('times without a zone, or not times at all, are refused naming the field', async (t) => {
  for (const [label, value] of [
    ['ISO without a zone', '2030-01-01T10:00:00'],
    ['a date only', '2030-01-01'],
    ['an impossible date', '2030-13-45T10:00:00Z'],
    ['a space for T', '2030-01-01 10:00:00Z'],
    ['ten fraction digits', '2030-01-01T10:00:00.1234567890Z'],
    ['epoch milliseconds as a string', '1900000000000'],
    ['negative epoch', -1],
    ['fractional epoch', 1.5],
    ['past the last Date', 8.64e15 + 1],
    ['a boolean', true],
    ['null', null],
  ] as Array<[string, unknown]>) {
    refuses(t, [item({ startsAt: value })], 'startsAt', /must be an ISO 8601 time with a zone or epoch milliseconds/,
      `startsAt ${label}`);
    refuses(t, [item({ endsAt: value })], 'endsAt', /must be an ISO 8601 time with a zone or epoch milliseconds/,
      `endsAt ${label}`);
  }
  refuses(t, [item({ startsAt: undefined })], 'startsAt', /ISO 8601/, 'a missing startsAt');
});

t.test('endsAt equal to or before startsAt is refused; one millisecond after is accepted', async (t) => {
  refuses(t, [item({ endsAt: STARTS })], 'endsAt', /must be after startsAt/, 'endsAt equal to startsAt');
  refuses(t, [item({ endsAt: STARTS - 1 })], 'endsAt', /must be after startsAt/, 'endsAt before startsAt');
  refuses(t, [item({ startsAt: '2030-01-01T10:00:00+01:00', endsAt: '2030-01-01T09:00:00Z' })], 'endsAt',
    /after startsAt/, 'the same instant in two zones');
  accepts(t, { endsAt: STARTS + 1 }, 'endsAt one millisecond after startsAt');
});

t.test('a fair window is 0..60000 ms and must close before endsAt', async (t) => {
  t.equal(accepts(t, { fairWindowMs: 0 }, 'no window')?.fairWindowMs, 0);
  t.equal(accepts(t, { fairWindowMs: 60_000 }, 'the longest window')?.fairWindowMs, 60_000);
  refuses(t, [item({ fairWindowMs: 60_001 })], 'fairWindowMs', /must be an integer in 0\.\.60000/, 'one ms too long');
  refuses(t, [item({ fairWindowMs: -1 })], 'fairWindowMs', /must be an integer/, 'negative');
  refuses(t, [item({ fairWindowMs: 1.5 })], 'fairWindowMs', /must be an integer/, 'fractional');
  refuses(t, [item({ endsAt: STARTS + 500, fairWindowMs: 500 })], 'fairWindowMs', /must end before endsAt/,
    'a window as long as the sale');
  accepts(t, { endsAt: STARTS + 501, fairWindowMs: 500 }, 'a window one ms shorter than the sale');
});

t.test('an unknown field is refused naming it', async (t) => {
  refuses(t, [item({ colour: 'red' })], 'colour', /is not a known field/, 'unknown field colour');
  refuses(t, [item({ PerUserLimit: 2 })], 'PerUserLimit', /is not a known field/, 'a field with the wrong case');
});

t.test('a wrong type in each field is refused naming that field', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['id', 7, /must match/],
    ['name', 7, /must be a string/],
    ['price', '100', /must be an integer >= 0/],
    ['stock', '10', /must be an integer in 0\.\./],
    ['perUserLimit', '2', /must be an integer in 1\.\./],
    ['startsAt', true, /ISO 8601/],
    ['endsAt', {}, /ISO 8601/],
    ['mode', 1, /must be "order" or "reserve"/],
    ['payWindowSec', '900', /must be an integer in 1\.\./],
    ['challenge', 'true', /must be true or false/],
    ['fairWindowMs', '500', /must be an integer in 0\.\./],
  ];
  for (const [field, value, why] of cases) {
    // With a non-string id the item is named only by its index.
    refuses(t, [item({ [field]: value })], field, why, `${field} as ${JSON.stringify(value)}`,
      field === 'id' ? 'item (items[0])' : 'item "phone" (items[0])');
  }
  refuses(t, [item({ challenge: 1 })], 'challenge', /true or false/, 'challenge as 1');
  refuses(t, [item({ price: null })], 'price', /integer/, 'price as null');
});

t.test('required fields that are missing are refused naming them', async (t) => {
  for (const field of ['id', 'name', 'price', 'stock', 'startsAt']) {
    const raw = item();
    delete raw[field];
    refuses(t, [raw], field, /must/, `missing ${field}`,
      field === 'id' ? 'item (items[0])' : 'item "phone" (items[0])');
  }
});

t.test('ids must match [a-z0-9-]{1,32}', async (t) => {
  accepts(t, { id: 'a' }, 'a one-character id');
  accepts(t, { id: 'a'.repeat(32) }, 'a 32-character id');
  accepts(t, { id: '0-9-z' }, 'digits and dashes');
  for (const id of ['', 'a'.repeat(33), 'Phone', 'a_b', 'a b', 'a.b', 'é']) {
    refuses(t, [item({ id })], 'id', /must match \[a-z0-9-\]\{1,32\}/, `id ${JSON.stringify(id)}`,
      `item ${JSON.stringify(id)} (items[0])`);
  }
});

t.test('a duplicate id is refused naming the later item', async (t) => {
  refuses(t, [item({ id: 'a' }), item({ id: 'b' }), item({ id: 'a' })], 'id', /duplicates an earlier item/,
    'duplicate id', 'item "a" (items[2])');
});

t.test('the item that fails is the one named, by id and index', async (t) => {
  refuses(t, [item({ id: 'ok-1' }), item({ id: 'ok-2' }), item({ id: 'bad', stock: -1 })], 'stock', /0\.\./,
    'third item bad', 'item "bad" (items[2])');
});

t.test('name must be 1 to 200 characters', async (t) => {
  accepts(t, { name: 'x' }, 'a one-character name');
  accepts(t, { name: 'x'.repeat(200) }, 'a 200-character name');
  refuses(t, [item({ name: '' })], 'name', /1\.\.200/, 'an empty name');
  refuses(t, [item({ name: 'x'.repeat(201) })], 'name', /1\.\.200/, 'a 201-character name');
});

t.test('price must be a whole number of minor units, at least 0', async (t) => {
  accepts(t, { price: 0 }, 'price 0');
  accepts(t, { price: Number.MAX_SAFE_INTEGER }, 'price 2^53 - 1');
  refuses(t, [item({ price: -1 })], 'price', /integer >= 0/, 'price -1');
  refuses(t, [item({ price: 9.99 })], 'price', /integer >= 0/, 'price 9.99');
  refuses(t, [item({ price: 2 ** 53 })], 'price', /integer >= 0/, 'price 2^53');
});

t.test('stock must be an integer in 0..STOCK_MAX', async (t) => {
  accepts(t, { stock: 0 }, 'stock 0');
  accepts(t, { stock: STOCK_MAX - 1 }, 'stock STOCK_MAX - 1');
  accepts(t, { stock: STOCK_MAX }, 'stock STOCK_MAX');
  refuses(t, [item({ stock: STOCK_MAX + 1 })], 'stock', new RegExp(`0\\.\\.${STOCK_MAX}`), 'stock STOCK_MAX + 1');
  refuses(t, [item({ stock: -1 })], 'stock', /integer in 0\.\./, 'stock -1');
  refuses(t, [item({ stock: 2.5 })], 'stock', /integer in 0\.\./, 'stock 2.5');
  refuses(t, [item({ stock: Number.NaN })], 'stock', /integer/, 'stock NaN');
  refuses(t, [item({ stock: Number.POSITIVE_INFINITY })], 'stock', /integer/, 'stock Infinity');
});

t.test('perUserLimit must be an integer in 1..65535', async (t) => {
  accepts(t, { perUserLimit: 1 }, 'perUserLimit 1');
  accepts(t, { perUserLimit: PER_USER_LIMIT_MAX }, 'perUserLimit 65535');
  refuses(t, [item({ perUserLimit: 0 })], 'perUserLimit', /1\.\.65535/, 'perUserLimit 0');
  refuses(t, [item({ perUserLimit: PER_USER_LIMIT_MAX + 1 })], 'perUserLimit', /1\.\.65535/, 'perUserLimit 65536');
  refuses(t, [item({ perUserLimit: 1.5 })], 'perUserLimit', /1\.\.65535/, 'perUserLimit 1.5');
  refuses(t, [item({ perUserLimit: null })], 'perUserLimit', /1\.\.65535/, 'perUserLimit null');
});

t.test('mode must be "order" or "reserve"', async (t) => {
  t.equal(accepts(t, { mode: 'reserve' }, 'mode reserve')?.mode, 'reserve');
  t.equal(accepts(t, { mode: 'order' }, 'mode order')?.mode, 'order');
  for (const mode of ['auction', 'Order', '', null]) {
    refuses(t, [item({ mode })], 'mode', /"order" or "reserve"/, `mode ${JSON.stringify(mode)}`);
  }
});

t.test('payWindowSec must be an integer from 1 second to 7 days', async (t) => {
  accepts(t, { payWindowSec: 1 }, 'payWindowSec 1');
  accepts(t, { payWindowSec: PAY_WINDOW_SEC_MAX }, 'payWindowSec 7 days');
  refuses(t, [item({ payWindowSec: 0 })], 'payWindowSec', /1\.\.604800/, 'payWindowSec 0');
  refuses(t, [item({ payWindowSec: PAY_WINDOW_SEC_MAX + 1 })], 'payWindowSec', /1\.\.604800/,
    'payWindowSec 7 days + 1 s');
  refuses(t, [item({ payWindowSec: 0.5 })], 'payWindowSec', /1\.\.604800/, 'payWindowSec 0.5');
});

t.test('challenge must be a boolean', async (t) => {
  t.equal(accepts(t, { challenge: true }, 'challenge true')?.challenge, true);
  t.equal(accepts(t, { challenge: false }, 'challenge false')?.challenge, false);
  for (const challenge of ['yes', 0, null]) {
    refuses(t, [item({ challenge })], 'challenge', /true or false/, `challenge ${JSON.stringify(challenge)}`);
  }
});

t.test('the document must be an object holding only an "items" array', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['an array', [], /^sale\.json: must be an object with "items"$/],
    ['null', null, /^sale\.json: must be an object with "items"$/],
    ['a string', 'items', /^sale\.json: must be an object/],
    ['an extra field', { items: [], sale: 'x' }, /^sale\.json: field "sale" is not a known field$/],
    ['no items', {}, /^sale\.json: field "items" must be an array$/],
    ['items not an array', { items: {} }, /^sale\.json: field "items" must be an array$/],
  ];
  for (const [label, raw, message] of cases) {
    t.throws(() => checkSale(raw, 'sale.json'), { constructor: SaleDefinitionError, message }, label);
  }
  for (const raw of [42, null, [], 'phone']) {
    t.throws(() => checkSale({ items: [item(), raw] }, 'sale.json'), {
      constructor: SaleDefinitionError, message: 'sale.json: item (items[1]): must be an object',
    }, `an item that is ${JSON.stringify(raw)}`);
  }
});

t.test('readSaleFile reads a valid file and names the file when it is missing or not JSON', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-sale-def-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const good = path.join(dir, 'good.json');
  fs.writeFileSync(good, JSON.stringify({ items: [item()] }));
  t.same(readSaleFile(good).map((i) => i.id), ['phone']);

  const missing = path.join(dir, 'missing.json');
  t.throws(() => readSaleFile(missing), {
    constructor: SaleDefinitionError, message: new RegExp(`^${escapeRegExp(missing)}: cannot read: .*ENOENT`),
  }, 'a missing file is named');

  const broken = path.join(dir, 'broken.json');
  fs.writeFileSync(broken, '{"items": [');
  t.throws(() => readSaleFile(broken), {
    constructor: SaleDefinitionError, message: new RegExp(`^${escapeRegExp(broken)}: not valid JSON: `),
  }, 'a file that is not JSON is named');

  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ items: [item({ stock: -5 })] }));
  t.throws(() => readSaleFile(bad), {
    constructor: SaleDefinitionError,
    message: `${bad}: item "phone" (items[0]): field "stock" must be an integer in 0..${STOCK_MAX}`,
  }, 'an invalid item in a file is named with the file');

  t.throws(() => readSaleFile(dir), {
    constructor: SaleDefinitionError, message: new RegExp(`^${escapeRegExp(dir)}: cannot read: `),
  }, 'a directory is not a sale file');
});

t.test('the demo sale passes the sale checks, starts on a whole second after the delay, and ends after it starts',
  async (t) => {
  const now = 1_700_000_000_123;
  const demo = demoSale(now, 20);
  t.same(checkSale({ items: demo }, 'demo'), demo, 'the demo items are valid as written');
  t.equal(new Set(demo.map((i) => i.id)).size, demo.length, 'ids are unique');
  t.equal(demo[0]!.startsAt, 1_700_000_021_000, 'now + 20 s rounded up to a whole second');
  t.equal(demoSale(1_700_000_000_000, 0)[0]!.startsAt, 1_700_000_000_000, 'an exact second is not rounded further');
  for (const d of demo) {
    t.ok(d.startsAt >= now + 20_000, `${d.id} starts no earlier than asked`);
    t.ok(d.endsAt > d.startsAt, `${d.id} ends after it starts`);
  }
  t.ok(demo.some((d) => d.mode === 'reserve'), 'the demo shows reserve mode');
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

t.test('waitlist: true is kept in reserve mode, refused in order mode and when not a boolean; false is no field',
  async (t) => {
  t.equal(accepts(t, { mode: 'reserve', waitlist: true }, 'a waitlist in reserve mode')?.waitlist, true);
  t.notOk('waitlist' in (accepts(t, { mode: 'reserve', waitlist: false }, 'waitlist false') ?? {}),
    'waitlist false is the default: the definition holds no field for it');
  refuses(t, [item({ waitlist: true })], 'waitlist', /only with mode "reserve"/, 'a waitlist in order mode');
  refuses(t, [item({ mode: 'order', waitlist: true })], 'waitlist', /only with mode "reserve"/,
    'a waitlist in explicit order mode');
  refuses(t, [item({ mode: 'reserve', waitlist: 'yes' })], 'waitlist', /must be true or false/, 'a string');
  refuses(t, [item({ mode: 'reserve', waitlist: 1 })], 'waitlist', /must be true or false/, 'a number');
});
