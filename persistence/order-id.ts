// An order id is the item's row times 2^32 plus the order's sequence within
// the item (1, 2, ...). So an item's orders are one contiguous range of the
// orders table's primary key, found without another index, and an id alone
// names its item. Every place that builds, splits or ranges over order ids
// uses these functions.

/** One more than the largest sequence: the factor between an item row and its first order id. */
export const TWO_POW_32 = 4294967296;

export function orderIdOf(itemRow: number, sequence: number): number {
  return itemRow * TWO_POW_32 + sequence;
}

export function itemRowOf(orderId: number): number {
  return Math.floor(orderId / TWO_POW_32);
}

export function sequenceOf(orderId: number): number {
  return orderId % TWO_POW_32;
}

/** The inclusive range of order ids an item's orders can have (sequence 0 included, which no order uses). */
export interface OrderIdRange {
  first: number;
  last: number;
}

export function orderIdRange(itemRow: number): OrderIdRange {
  const first = itemRow * TWO_POW_32;
  return { first, last: first + TWO_POW_32 - 1 };
}

/** SQL for the item row of the order id column `column`, for queries that group or check by item. */
export function itemRowSql(column: string): string {
  return `(${column} / ${TWO_POW_32})`;
}

/** SQL for the sequence of the order id column `column`. */
export function sequenceSql(column: string): string {
  return `(${column} % ${TWO_POW_32})`;
}
