// The sale every system of a scenario is given (the engine as its --sale
// file, the Redis peer as the same file) and the user tokens the generators
// rotate over, signed as the shop would sign them (the contract's format,
// with the engine's own signer).

import fs from 'node:fs';
import path from 'node:path';
import { signUserToken } from '../engine/user-token';

export interface SaleItem {
  id: string;
  name: string;
  price: number;
  stock: number;
  perUserLimit: number;
  /** Epoch ms; the benchmark's items started a second before the system did. */
  startsAt: number;
  mode: 'order';
}

export interface Sale {
  items: SaleItem[];
}

/** Token lifetime: longer than any benchmark, so none expires under load. */
const TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** `count` items named `<prefix>-<index>` (or just `prefix` for one), live since a second ago. */
export function saleOf(prefix: string, count: number, stock: number, perUserLimit: number): Sale {
  const startsAt = Date.now() - 1000;
  const items = Array.from({ length: count }, (_, index): SaleItem => ({
    id: count === 1 ? prefix : `${prefix}-${index}`, name: `Item ${index}`, price: 1000, stock, perUserLimit, startsAt,
    mode: 'order',
  }));
  return { items };
}

export function writeSale(directory: string, sale: Sale): string {
  const file = path.join(directory, 'sale.json');
  fs.writeFileSync(file, JSON.stringify(sale));
  return file;
}

export function readSale(file: string): Sale {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Sale;
}

/** Tokens for users firstUser .. firstUser + count - 1. */
export function signTokens(secret: string, count: number, firstUser = 1): string[] {
  const expiresSeconds = Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_SECONDS;
  return Array.from({ length: count }, (_, index) => signUserToken(secret, firstUser + index, expiresSeconds));
}

/**
 * The public item list in the engine's shape (GET /api/items), or with
 * buyPaths as the /sale.js script: what the peer and the bare endpoint answer
 * to the read-storm scenario, so that all three send bodies of one size.
 */
export function publicItemsBody(items: readonly SaleItem[], left: readonly number[],
  buyPaths: readonly string[] | null): string {
  const states = items.map((item, index) => {
    const state = { id: item.id, name: item.name, price: item.price, stock: item.stock, left: left[index]!,
      perUserLimit: item.perUserLimit, startsAt: item.startsAt, endsAt: item.startsAt + 3_600_000, mode: item.mode,
      challenge: false, state: left[index]! > 0 ? 'live' : 'sold_out' };
    return buyPaths === null ? state : { ...state, buyPath: buyPaths[index] };
  });
  return buyPaths === null
    ? JSON.stringify({ items: states })
    : `window.FLASH_SALE = ${JSON.stringify({ now: Date.now(), items: states })};\n`;
}
