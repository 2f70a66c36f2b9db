// The sale definition: the items of a sale, checked field by field. A file
// that is not valid is refused whole with a message naming the item and the
// field, so the engine never starts half-configured (contract, "Sale
// definition"). Also holds the embedded demo sale.

import fs from 'node:fs';
import type { ItemDefinition, SaleMode } from '../persistence/item-definition';
import { FAIR_WINDOW_MS_MAX, PER_USER_LIMIT_MAX, STOCK_MAX } from './constants';

export class SaleDefinitionError extends Error {
  override name = 'SaleDefinitionError';
}

const ITEM_ID = /^[a-z0-9-]{1,32}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const FIELDS = new Set([
  'id', 'name', 'price', 'stock', 'perUserLimit', 'startsAt', 'endsAt', 'mode', 'payWindowSec', 'challenge',
  'waitlist',
  'fairWindowMs',
]);
const HOUR_MS = 3_600_000;
const PAY_WINDOW_SEC_MAX = 7 * 24 * 3600;
const NAME_CHARS_MAX = 200;
const TIME_MAX_MS = 8.64e15; // the largest time a JavaScript Date holds

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

function parseTime(value: unknown): number | null {
  if (isInteger(value, 0, TIME_MAX_MS)) return value;
  if (typeof value === 'string' && ISO_8601.test(value)) {
    const ms = Date.parse(value);
    return Number.isFinite(ms) && ms >= 0 ? ms : null;
  }
  return null;
}

/** Checks one item; `where` names it in messages. Throws SaleDefinitionError. */
export function checkItem(raw: unknown, where: string): ItemDefinition {
  const fail = (field: string, why: string): never => {
    throw new SaleDefinitionError(`${where}: field "${field}" ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SaleDefinitionError(`${where}: must be an object`);
  }
  const item = raw as Record<string, unknown>;
  for (const key of Object.keys(item)) if (!FIELDS.has(key)) fail(key, 'is not a known field');
  if (typeof item.id !== 'string' || !ITEM_ID.test(item.id)) fail('id', 'must match [a-z0-9-]{1,32}');
  if (typeof item.name !== 'string' || item.name.length < 1 || item.name.length > NAME_CHARS_MAX) {
    fail('name', `must be a string of 1..${NAME_CHARS_MAX} characters`);
  }
  if (!isInteger(item.price, 0, Number.MAX_SAFE_INTEGER)) {
    fail('price', 'must be an integer >= 0 (minor currency units)');
  }
  if (!isInteger(item.stock, 0, STOCK_MAX)) fail('stock', `must be an integer in 0..${STOCK_MAX}`);
  if (item.perUserLimit !== undefined && !isInteger(item.perUserLimit, 1, PER_USER_LIMIT_MAX)) {
    fail('perUserLimit', `must be an integer in 1..${PER_USER_LIMIT_MAX}`);
  }
  const startsAt = parseTime(item.startsAt);
  if (startsAt === null) fail('startsAt', 'must be an ISO 8601 time with a zone or epoch milliseconds');
  const endsAt = item.endsAt === undefined ? Math.min(startsAt! + HOUR_MS, TIME_MAX_MS) : parseTime(item.endsAt);
  if (endsAt === null) fail('endsAt', 'must be an ISO 8601 time with a zone or epoch milliseconds');
  if (endsAt! <= startsAt!) fail('endsAt', 'must be after startsAt');
  if (item.mode !== undefined && item.mode !== 'order' && item.mode !== 'reserve') {
    fail('mode', 'must be "order" or "reserve"');
  }
  if (item.payWindowSec !== undefined && !isInteger(item.payWindowSec, 1, PAY_WINDOW_SEC_MAX)) {
    fail('payWindowSec', `must be an integer in 1..${PAY_WINDOW_SEC_MAX}`);
  }
  if (item.challenge !== undefined && typeof item.challenge !== 'boolean') fail('challenge', 'must be true or false');
  if (item.waitlist !== undefined && typeof item.waitlist !== 'boolean') fail('waitlist', 'must be true or false');
  // Only a reservation gives a unit back while the sale runs (cancel, expiry), which is what a waitlist waits for.
  if (item.waitlist === true && item.mode !== 'reserve') fail('waitlist', 'is allowed only with mode "reserve"');
  if (item.fairWindowMs !== undefined && !isInteger(item.fairWindowMs, 0, FAIR_WINDOW_MS_MAX)) {
    fail('fairWindowMs', `must be an integer in 0..${FAIR_WINDOW_MS_MAX}`);
  }
  if (((item.fairWindowMs as number | undefined) ?? 0) >= endsAt! - startsAt!) {
    fail('fairWindowMs', 'must end before endsAt');
  }
  return {
    id: item.id as string,
    name: item.name as string,
    price: item.price as number,
    stock: item.stock as number,
    perUserLimit: (item.perUserLimit as number | undefined) ?? 1,
    startsAt: startsAt!,
    endsAt: endsAt!,
    mode: (item.mode as SaleMode | undefined) ?? 'order',
    payWindowSec: (item.payWindowSec as number | undefined) ?? 900,
    challenge: (item.challenge as boolean | undefined) ?? false,
    ...(item.waitlist === true ? { waitlist: true } : {}),
    fairWindowMs: (item.fairWindowMs as number | undefined) ?? 0,
  };
}

/** Checks a whole sale document. */
export function checkSale(raw: unknown, source: string): ItemDefinition[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SaleDefinitionError(`${source}: must be an object with "items"`);
  }
  const doc = raw as Record<string, unknown>;
  for (const key of Object.keys(doc)) {
    if (key !== 'items') throw new SaleDefinitionError(`${source}: field "${key}" is not a known field`);
  }
  if (!Array.isArray(doc.items)) throw new SaleDefinitionError(`${source}: field "items" must be an array`);
  const seen = new Set<string>();
  return doc.items.map((rawItem: unknown, index: number) => {
    const label = typeof (rawItem as { id?: unknown })?.id === 'string'
      ? `item "${(rawItem as { id: string }).id}"`
      : 'item';
    const item = checkItem(rawItem, `${source}: ${label} (items[${index}])`);
    if (seen.has(item.id)) {
      throw new SaleDefinitionError(`${source}: ${label} (items[${index}]): field "id" duplicates an earlier item`);
    }
    seen.add(item.id);
    return item;
  });
}

export function readSaleFile(file: string): ItemDefinition[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new SaleDefinitionError(`${file}: cannot read: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SaleDefinitionError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  return checkSale(raw, file);
}

/** The embedded demo sale, used when there is no sale file and the database is empty. */
export function demoSale(nowMs: number, startInSec: number): ItemDefinition[] {
  const startsAt = Math.ceil((nowMs + startInSec * 1000) / 1000) * 1000;
  return [
    { id: 'demo-phone', name: 'Demo Phone X', price: 99900, stock: 100, perUserLimit: 1,
      startsAt, endsAt: startsAt + HOUR_MS, mode: 'order', payWindowSec: 900, challenge: false, fairWindowMs: 0 },
    { id: 'demo-sneaker', name: 'Demo Sneaker (pay within 2 minutes)', price: 18900, stock: 50, perUserLimit: 2,
      startsAt, endsAt: startsAt + HOUR_MS, mode: 'reserve', payWindowSec: 120, challenge: false,
      fairWindowMs: 0 },
    { id: 'demo-ticket', name: 'Demo Concert Ticket', price: 7500, stock: 1000, perUserLimit: 4,
      startsAt: startsAt + 60_000, endsAt: startsAt + 2 * HOUR_MS, mode: 'order', payWindowSec: 900, challenge: false,
      fairWindowMs: 0 },
  ];
}
