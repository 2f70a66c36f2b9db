// Proves the waitlist queue on its own (engine/waitlist-queue.ts): places
// are 1, 2, 3, ... in join order, one per user; a queue of capacity c takes
// c joins and refuses the next (tried with c - 1, c and c + 1 joins, and at
// the engine's WAITLIST_PLACES_MAX); offers and drops go strictly from the
// head, `ahead` counts the waiting places before a place, `served` is the
// highest place offered; and a queue restored place by place from what the
// database holds answers exactly as the one that made it.

import t from 'tap';
import { AssertionError } from 'node:assert';
import { WAITLIST_PLACES_MAX } from '../../engine/constants';
import { DROPPED, WAITING, WaitlistQueue } from '../../engine/waitlist-queue';

/** Joins users 1001, 1002, ... `count` times and returns the places given (0: refused). */
function joinMany(queue: WaitlistQueue, count: number): number[] {
  return Array.from({ length: count }, (_, i) => queue.join(1001 + i));
}

t.test('places are given 1, 2, 3 ... in join order, and ahead counts the waiting places before each', async (t) => {
  const queue = new WaitlistQueue(10);
  t.same(joinMany(queue, 5), [1, 2, 3, 4, 5]);
  t.same([1, 2, 3, 4, 5].map((place) => queue.ahead(place)), [0, 1, 2, 3, 4]);
  t.equal(queue.placeOf(1003), 3);
  t.equal(queue.placeOf(999), 0, 'a user without a place has place 0');
  t.equal(queue.waiting, 5);
  t.throws(() => queue.join(1003), AssertionError, 'a user has one place: the shard asks placeOf first');
});

for (const capacity of [1, 2, 7]) {
  t.test(`a queue of capacity ${capacity} takes capacity - 1, capacity joins, and refuses capacity + 1`, async (t) => {
    const below = new WaitlistQueue(capacity);
    t.ok(joinMany(below, capacity - 1).every((place, i) => place === i + 1), 'capacity - 1 joins all get places');
    t.equal(below.join(5000), capacity, 'the last place is still free');
    const full = new WaitlistQueue(capacity);
    const places = joinMany(full, capacity + 1);
    t.same(places.slice(0, capacity), Array.from({ length: capacity }, (_, i) => i + 1));
    t.equal(places[capacity], 0, 'the join past capacity is refused');
    t.equal(full.count, capacity);
    full.offer(1, 1);
    t.equal(full.join(6000), 0, 'an offered place is not given again: the bound counts every place given');
  });
}

t.test('the engine bound: WAITLIST_PLACES_MAX places, and the one after is refused', async (t) => {
  const queue = new WaitlistQueue();
  t.equal(queue.capacity, WAITLIST_PLACES_MAX);
  const places = joinMany(queue, WAITLIST_PLACES_MAX + 1);
  t.equal(places[WAITLIST_PLACES_MAX - 2], WAITLIST_PLACES_MAX - 1);
  t.equal(places[WAITLIST_PLACES_MAX - 1], WAITLIST_PLACES_MAX);
  t.equal(places[WAITLIST_PLACES_MAX], 0);
  t.equal(queue.ahead(WAITLIST_PLACES_MAX), WAITLIST_PLACES_MAX - 1);
  t.equal(queue.userAt(WAITLIST_PLACES_MAX), 1000 + WAITLIST_PLACES_MAX);
  t.throws(() => new WaitlistQueue(WAITLIST_PLACES_MAX + 1), AssertionError, 'no queue is larger than the bound');
});

t.test('offers and drops go from the head in place order; served is the highest place offered', async (t) => {
  const queue = new WaitlistQueue(10);
  joinMany(queue, 4);
  t.throws(() => queue.offer(2, 1), AssertionError, 'place 2 is not the head');
  queue.offer(1, 7);
  t.equal(queue.served, 1);
  queue.drop(2);
  t.equal(queue.served, 1, 'a drop serves nobody');
  queue.offer(3, 9);
  t.same([queue.outcomeOf(1), queue.outcomeOf(2), queue.outcomeOf(3), queue.outcomeOf(4)], [7, DROPPED, 9, WAITING]);
  t.same([queue.head, queue.served, queue.waiting], [4, 3, 1]);
  t.equal(queue.ahead(4), 0, 'the head has nobody ahead');
  t.equal(queue.ahead(1), 0, 'a place no longer waiting has nobody ahead');
  t.equal(queue.join(2000), 5);
  t.equal(queue.ahead(5), 1);
  queue.offer(4, 10);
  queue.offer(5, 11);
  t.equal(queue.waiting, 0);
  t.throws(() => queue.offer(6, 12), AssertionError, 'no place to offer past the last');
});

t.test('a queue restored from its places answers as the one that made it; disorder fails loudly', async (t) => {
  const made = new WaitlistQueue(100);
  joinMany(made, 70);
  made.offer(1, 3);
  made.drop(2);
  made.offer(3, 4);
  const restored = new WaitlistQueue(100);
  for (let place = 1; place <= made.count; place++) {
    restored.restore(place, made.userAt(place), made.outcomeOf(place));
  }
  t.same([restored.count, restored.head, restored.served, restored.waiting],
    [made.count, made.head, made.served, made.waiting]);
  for (const place of [1, 2, 3, 4, 70]) t.equal(restored.ahead(place), made.ahead(place), `ahead of ${place}`);
  t.equal(restored.placeOf(1070), 70);
  t.equal(restored.join(9), 71, 'joins go on after the restored places');
  const broken = new WaitlistQueue(10);
  broken.restore(1, 1, WAITING);
  t.throws(() => broken.restore(2, 2, 5), AssertionError, 'an offered place after a waiting one is refused');
  t.throws(() => broken.restore(4, 4, WAITING), AssertionError, 'a gap in places is refused');
});
