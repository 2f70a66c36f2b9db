// The in-flight set against a model (a JS Set) under random adds and
// removes with many colliding keys: backward-shift deletion must never lose
// a key that is still in, nor keep one that left.

import t from 'tap';
import { InFlightUsers } from '../../engine/in-flight-users';

t.test('matches a Set under random adds and removes', async (t) => {
  const set = new InFlightUsers(64);
  const model = new Set<number>();
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let mismatches = 0;
  for (let step = 0; step < 200_000; step++) {
    // Ids up to 2^53 and small ones, so both halves of the hash are exercised.
    const user = rand(2) === 0 ? 1 + rand(200) : 2 ** 40 + rand(200);
    if (model.size < 64 && rand(2) === 0) {
      if (set.add(user) !== !model.has(user)) mismatches++;
      model.add(user);
    } else {
      set.remove(user);
      model.delete(user);
    }
    if (set.has(user) !== model.has(user) || set.size !== model.size) mismatches++;
  }
  for (let user = 1; user <= 200; user++) if (set.has(user) !== model.has(user)) mismatches++;
  t.equal(mismatches, 0);
});

t.test('refuses to hold more than its bound', async (t) => {
  const set = new InFlightUsers(4);
  for (let user = 1; user <= 4; user++) t.ok(set.add(user));
  t.notOk(set.add(3), 'a user already in flight is not added twice');
  t.throws(() => set.add(5), /more buys in flight/);
});
