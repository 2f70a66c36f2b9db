// Proves that HoldingsTable answers exactly like a Map from user id to units:
// a seeded random run of 200,000 increments, decrements and lookups is
// checked against a Map model, with user ids spread over the whole 53-bit
// range (near 2^53, and ids that differ only above bit 32, which must not
// collide through the hash). Also proves that growth keeps every count and
// drops the entries whose count fell to 0, that a table capped by slotsMax
// refuses with -1 exactly at its load-factor capacity (tried at capacity - 1,
// capacity and capacity + 1) and still answers get() right after refusing,
// and that decrementing a unit the user does not hold fails an assertion.

import t from 'tap';
import { AssertionError } from 'node:assert';
import { HoldingsTable } from '../../engine/holdings-table';
import { HOLDINGS_SLOTS_MIN } from '../../engine/constants';
import { mulberry32 } from '../helpers/seeded-random';

const TWO_POW_32 = 2 ** 32;
const MAX_ID = Number.MAX_SAFE_INTEGER;

/** Distinct users a table of `slots` slots holds before it must grow (70% load). */
function loadCapacity(slots: number): number {
  return Math.floor(slots * 0.7);
}

/** Everything the table holds, through holderPairs (what snapshots read), as a sorted list. */
function contents(table: HoldingsTable): Array<[number, number]> {
  const pairs = table.holderPairs();
  const out: Array<[number, number]> = [];
  for (let at = 0; at < pairs.length; at += 2) out.push([pairs[at]!, pairs[at + 1]!]);
  return out.sort((a, b) => a[0] - b[0]);
}

/** The model's users with at least one unit, sorted. */
function modelContents(model: Map<number, number>): Array<[number, number]> {
  return [...model.entries()].filter(([, count]) => count > 0).sort((a, b) => a[0] - b[0]);
}

t.test('a new table holds nothing: get is 0 and holderPairs lists no one', async (t) => {
  const table = new HoldingsTable(10);
  t.equal(table.get(1), 0);
  t.equal(table.get(MAX_ID), 0);
  t.same(contents(table), []);
  t.equal(table.used, 0);
});

t.test('increment and decrement return the new count, and get reads it back', async (t) => {
  const table = new HoldingsTable(4);
  t.equal(table.increment(7), 1);
  t.equal(table.increment(7), 2);
  t.equal(table.increment(8), 1);
  t.equal(table.get(7), 2);
  t.equal(table.get(8), 1);
  t.equal(table.decrement(7), 1);
  t.equal(table.decrement(7), 0);
  t.equal(table.get(7), 0, 'a user whose units all went back holds 0');
  t.same(contents(table), [[8, 1]], 'holderPairs skips users holding 0');
  t.equal(table.increment(7), 1, 'a user at 0 can take a unit again');
  t.equal(table.used, 2, 'the user at 0 kept its slot, so no new slot was used');
});

t.test('the smallest and largest user ids and ids equal below bit 32 are kept apart', async (t) => {
  const table = new HoldingsTable(0);
  const ids = [1, MAX_ID, MAX_ID - 1, TWO_POW_32, TWO_POW_32 + 1, 5, 5 + TWO_POW_32, 5 + 2 * TWO_POW_32, 5 + 2 ** 52];
  ids.forEach((id, index) => {
    for (let i = 0; i <= index; i++) table.increment(id);
  });
  ids.forEach((id, index) => t.equal(table.get(id), index + 1, `user ${id}`));
  t.equal(table.get(6 + TWO_POW_32), 0, 'an id never seen holds 0');
});

t.test('decrement of a user holding no unit fails an assertion and changes nothing', async (t) => {
  const table = new HoldingsTable(4);
  t.throws(() => table.decrement(42), AssertionError, 'a user never seen');
  table.increment(42);
  table.decrement(42);
  t.throws(() => table.decrement(42), AssertionError, 'a user whose count is already 0');
  t.equal(table.get(42), 0);
  table.increment(43);
  t.throws(() => table.decrement(43 + TWO_POW_32), AssertionError,
    'a user that differs only above bit 32 from a holder');
  t.equal(table.get(43), 1, 'the holder keeps its unit');
});

t.test('200,000 random operations agree with a Map model across growths', async (t) => {
  const random = mulberry32(0x5eed);
  // 3,000 users from four families: small ids, ids near 2^53, and two families that
  // share their low 32 bits with each other and differ only above bit 32.
  const users: number[] = [];
  for (let i = 0; i < 750; i++) {
    users.push(1 + i);
    users.push(MAX_ID - i);
    users.push(i * TWO_POW_32 + 12345 + TWO_POW_32);
    users.push(Math.floor(random() * 2 ** 20) * TWO_POW_32 + (0xdeadbeef >>> 0));
  }
  const unique = [...new Set(users)];
  t.ok(unique.length > 2900, 'the user families are nearly all distinct');
  const table = new HoldingsTable(0);
  const model = new Map<number, number>();
  let mismatches = 0;
  let decrementRefusals = 0;
  let grown = 0;
  let capacity = table.capacity;
  for (let op = 0; op < 200_000; op++) {
    // Early on, favour increments so the table fills and grows; later, mix evenly.
    const user = unique[Math.floor(random() * unique.length)]!;
    const roll = random();
    const want = model.get(user) ?? 0;
    if (roll < (op < 50_000 ? 0.7 : 0.45)) {
      if (table.increment(user) !== want + 1) mismatches++;
      model.set(user, want + 1);
    } else if (roll < 0.9) {
      if (want === 0) {
        try {
          table.decrement(user);
          mismatches++;
        } catch (error) {
          if (error instanceof AssertionError) decrementRefusals++;
          else throw error;
        }
      } else {
        if (table.decrement(user) !== want - 1) mismatches++;
        model.set(user, want - 1);
      }
    } else if (table.get(user) !== want) {
      mismatches++;
    }
    if (table.capacity !== capacity) {
      grown++;
      capacity = table.capacity;
    }
  }
  t.equal(mismatches, 0, 'every answer matched the model');
  t.ok(decrementRefusals > 0, 'decrements of users holding nothing were tried and refused');
  t.ok(grown >= 5, `the table grew at least five times (grew ${grown}, now ${table.capacity} slots)`);
  let wrong = 0;
  for (const user of unique) if (table.get(user) !== (model.get(user) ?? 0)) wrong++;
  t.equal(wrong, 0, 'get agrees with the model for every user at the end');
  t.same(contents(table), modelContents(model), 'holderPairs lists exactly the model\'s holders');
  t.ok(table.used <= table.capacity * 0.7, 'the table never passes 70% load');
});

t.test('growth doubles the table and keeps every count', async (t) => {
  const table = new HoldingsTable(0);
  t.equal(table.capacity, HOLDINGS_SLOTS_MIN);
  const fill = loadCapacity(HOLDINGS_SLOTS_MIN);
  for (let user = 1; user <= fill; user++) for (let i = 0; i < user; i++) table.increment(user * TWO_POW_32 + 1);
  t.equal(table.capacity, HOLDINGS_SLOTS_MIN, `${fill} users fit without growing`);
  t.equal(table.increment(MAX_ID), 1, 'one more user is taken');
  t.equal(table.capacity, 2 * HOLDINGS_SLOTS_MIN, 'and the table doubled for it');
  for (let user = 1; user <= fill; user++) {
    t.equal(table.get(user * TWO_POW_32 + 1), user, `user ${user} kept ${user} units`);
  }
  t.equal(table.get(MAX_ID), 1);
  t.equal(table.used, fill + 1);
});

t.test('the constructor sizes the table so the expected holders never make it grow', async (t) => {
  const table = new HoldingsTable(1000);
  const capacity = table.capacity;
  t.ok(loadCapacity(capacity) >= 1000, `${capacity} slots hold 1000 users under 70% load`);
  for (let user = 1; user <= 1000; user++) table.increment(user);
  t.equal(table.capacity, capacity, 'no growth for the expected holders');
});

t.test('growth drops entries whose count fell to 0, without doubling when that frees enough room', async (t) => {
  const table = new HoldingsTable(0);
  const fill = loadCapacity(HOLDINGS_SLOTS_MIN); // 11 users fill 16 slots
  for (let user = 1; user <= fill; user++) table.increment(user);
  for (let user = 1; user <= 7; user++) table.decrement(user); // 4 users still hold a unit
  t.equal(table.used, fill, 'users at 0 still take their slots before growth');
  t.equal(table.increment(100), 1);
  t.equal(table.capacity, HOLDINGS_SLOTS_MIN, 'rehashing in place was enough');
  t.equal(table.used, 5, 'only the 4 holders and the new user have slots');
  for (let user = 1; user <= 7; user++) t.equal(table.get(user), 0, `dropped user ${user} reads 0`);
  t.same(contents(table), [[8, 1], [9, 1], [10, 1], [11, 1], [100, 1]]);
  t.equal(table.increment(3), 1, 'a dropped user can take a unit again');
});

t.test('growth by doubling also drops entries whose count fell to 0', async (t) => {
  const table = new HoldingsTable(0);
  const fill = loadCapacity(HOLDINGS_SLOTS_MIN);
  for (let user = 1; user <= fill; user++) table.increment(user);
  for (let user = 1; user <= 3; user++) table.decrement(user); // 8 holders: too many to rehash in place
  t.equal(table.increment(100), 1);
  t.equal(table.capacity, 2 * HOLDINGS_SLOTS_MIN);
  t.equal(table.used, 9, 'the 3 users at 0 were not copied');
  for (let user = 1; user <= 3; user++) t.equal(table.get(user), 0);
  for (let user = 4; user <= fill; user++) t.equal(table.get(user), 1);
});

for (const slotsMax of [16, 32]) {
  t.test(`with slotsMax ${slotsMax}, increment refuses the user past 70% of ${slotsMax} slots and get still answers`,
    async (t) => {
    const table = new HoldingsTable(0, slotsMax);
    const capacity = loadCapacity(slotsMax);
    const userOf = (index: number): number => index * TWO_POW_32 + 9; // low 32 bits all equal
    for (let index = 1; index <= capacity - 1; index++) t.equal(table.increment(userOf(index)), 1);
    t.equal(table.used, capacity - 1, 'capacity - 1 users are in');
    t.equal(table.increment(userOf(capacity)), 1, 'the user at capacity is taken');
    t.equal(table.capacity, slotsMax, 'the table reached its maximum');
    t.equal(table.increment(userOf(capacity + 1)), -1, 'the user at capacity + 1 is refused');
    t.equal(table.increment(MAX_ID), -1, 'and so is any other new user');
    t.equal(table.used, capacity, 'a refusal takes no slot');
    t.equal(table.capacity, slotsMax, 'a refusal does not grow the table');
    t.equal(table.get(userOf(capacity + 1)), 0, 'the refused user holds nothing');
    t.equal(table.get(MAX_ID), 0);
    for (let index = 1; index <= capacity; index++) t.equal(table.get(userOf(index)), 1, `user ${index} still holds 1`);
    t.equal(table.increment(userOf(1)), 2, 'a user already in the full table can still take a unit');
    t.equal(table.decrement(userOf(1)), 1);
  });
}

t.test('a table at its maximum takes a new user again once holders at 0 free enough room', async (t) => {
  const table = new HoldingsTable(0, 16);
  const capacity = loadCapacity(16);
  for (let user = 1; user <= capacity; user++) table.increment(user);
  t.equal(table.increment(500), -1, 'full');
  for (let user = 1; user <= capacity - 4; user++) table.decrement(user); // 4 holders remain
  t.equal(table.increment(500), 1, 'rehashing in place dropped the users at 0');
  t.equal(table.capacity, 16);
  t.same(contents(table), [[8, 1], [9, 1], [10, 1], [11, 1], [500, 1]]);
});

t.test('the constructor refuses a slotsMax that is not a power of two or is below the minimum', async (t) => {
  t.throws(() => new HoldingsTable(0, 24), AssertionError);
  t.throws(() => new HoldingsTable(0, HOLDINGS_SLOTS_MIN / 2), AssertionError);
  t.throws(() => new HoldingsTable(-1), AssertionError);
  t.throws(() => new HoldingsTable(1.5), AssertionError);
  t.equal(new HoldingsTable(1_000_000, 32).capacity, 32, 'expected holders past slotsMax are capped at slotsMax');
});

t.test('a table at its maximum rehashes in place when holders at 0 leave room under the load factor', async (t) => {
  // 16 slots, load factor 0.7: 11 users fill it; 5 of them give their unit back.
  const table = new HoldingsTable(0, 16);
  for (let user = 1; user <= 11; user++) t.equal(table.increment(user), 1);
  for (let user = 1; user <= 5; user++) t.equal(table.decrement(user), 0);
  t.equal(table.increment(100), 1, 'a new user is taken: 6 live holders + 1 fit under 0.7 * 16');
  t.equal(table.capacity, 16, 'without growing past the maximum');
  for (let user = 6; user <= 11; user++) t.equal(table.get(user), 1, `user ${user} still holds one`);
});

t.test('incrementBelow adds a unit only while the user holds fewer than the limit', async (t) => {
  const table = new HoldingsTable(4);
  t.equal(table.incrementBelow(9, 2), 1, 'limit - 2 → 1');
  t.equal(table.incrementBelow(9, 2), 2, 'limit - 1 → 2');
  t.equal(table.incrementBelow(9, 2), 0, 'at the limit: refused, 0');
  t.equal(table.get(9), 2, 'the refusal changed nothing');
  t.equal(table.decrement(9), 1);
  t.equal(table.incrementBelow(9, 2), 2, 'below the limit again after a unit came back');
  const full = new HoldingsTable(0, 16);
  for (let user = 1; user <= 11; user++) t.equal(full.incrementBelow(user, 1), 1);
  t.equal(full.incrementBelow(12, 1), -1, 'a full table refuses a new user with -1');
  t.equal(full.incrementBelow(3, 1), 0, 'and still answers limit for a holder');
});
