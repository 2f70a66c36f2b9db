// A mutex in one Int32 word of a SharedArrayBuffer, for the per-user and
// per-address tables that HTTP threads share (in-flight-users.ts,
// rate-limiter.ts, challenge.ts).
//
// Cross-thread design: shared memory with Atomics, not partitioning. A
// user's buys, an address's requests and a challenge's answers can arrive on
// any thread (a socket's thread is chosen by the kernel, not by the user), so
// partitioning would need a hop to the owner thread on every request; a lock
// around a few plain reads and writes costs one uncontended
// Atomics.compareExchange and one Atomics.exchange. The words are locks, not
// lock-free slots, because each update spans several float64 fields (a
// bucket's tokens and stamp, an in-flight id that a backward shift moves),
// which no single atomic instruction covers.
//
// The word is 0 (free), 1 (held) or 2 (held, and a thread may be waiting):
// Drepper's "Futexes Are Tricky" mutex 2. An uncontended lock and unlock
// never reach Atomics.wait or Atomics.notify. A waiter spins briefly first,
// since every critical section is a few dozen instructions; it blocks only
// when the holder was descheduled. Callers never throw while holding a word:
// they compute under the lock, unlock, then assert.
//
// Plain (non-Atomics) reads and writes between lock() and unlock() are safe:
// Atomics operations are sequentially consistent, so a program whose shared
// fields are touched only under the lock has no data race and each thread
// sees the last holder's writes whole.

const FREE = 0;
const HELD = 1;
const CONTENDED = 2;
/** Lock attempts before a waiter blocks: about a microsecond, longer than any critical section here. */
const SPINS_BEFORE_WAIT = 100;

/** `count` lock words, all free, in their own SharedArrayBuffer (4 B each). */
export function createLockWords(count: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT));
}

export function lock(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, FREE, HELD) !== FREE) lockContended(words, index);
}

export function unlock(words: Int32Array, index: number): void {
  if (Atomics.exchange(words, index, FREE) === CONTENDED) Atomics.notify(words, index, 1);
}

function lockContended(words: Int32Array, index: number): void {
  for (let spin = 0; spin < SPINS_BEFORE_WAIT; spin++) {
    if (Atomics.load(words, index) === FREE && Atomics.compareExchange(words, index, FREE, HELD) === FREE) return;
  }
  // Marked contended, so the holder's unlock wakes one waiter; whoever wins
  // the word this way keeps it marked, since others may still be waiting.
  while (Atomics.exchange(words, index, CONTENDED) !== FREE) Atomics.wait(words, index, CONTENDED);
}
