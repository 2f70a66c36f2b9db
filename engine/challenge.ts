// Challenges for items with `challenge: true`: a human reads five digits
// drawn as distorted strokes in an SVG and types them. The server keeps no
// state per challenge issued: the opaque string is its issue time and a
// nonce, and the answer is derived from them, the user and the item by an
// HMAC under the server's challenge secret, so it cannot be forged, moved to
// another user or item, or back-dated. The digits are drawn as paths, never
// as text, so the answer is not in the response.
//
// What is remembered is which challenges were used (single use): a fixed,
// 4-way set-associative table of their hashes until they expire, so memory
// never grows with the number of challenges. Under a flood of more than
// USED_SLOTS live challenges an old entry can be evicted early, which only
// lets that challenge be answered a second time within its lifetime.
//
// Cross-thread design: shared memory with Atomics (see atomic-lock.ts for
// why not partitioning). The used table lives in a SharedArrayBuffer; the
// scan of a challenge's set and the write of its entry happen under one lock
// word, so a challenge answered on two threads at once is used once: the
// second finds the first's entry. Sets share USED_LOCK_STRIPES words (16
// KiB, not a word per set: 1 MiB); the HMAC and the digest are computed
// before the lock is taken.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createLockWords, lock, unlock } from './atomic-lock';
import { hashKey } from './key-hash';

export const CHALLENGE_DIGITS = 5;
/** Slots of the used-challenge table: 2^20 * 16 B = 16 MiB. */
const USED_SLOTS = 1 << 20;
const WAYS = 4;
/** Lock words of the used table: 2^12 * 4 B = 16 KiB; set index modulo this picks a set's word. */
const USED_LOCK_STRIPES = 1 << 12;
/** Float64 fields per slot: the challenge's key (0 when empty) and its expiry (ms), side by side. */
const USED_KEY = 0;
const USED_UNTIL = 1;
const USED_FIELDS = 2;
const CHALLENGE_FORMAT = /^([0-9]{13})\.([A-Za-z0-9_-]{16})$/;
const ANSWER_FORMAT = /^\s*([0-9]{5})\s*$/;

/** The answer to a challenge: digits from the HMAC of who, what, when and the nonce. */
export function challengeAnswer(secret: Buffer, itemId: string, userId: number, issuedMs: number,
  nonce: string): string {
  const mac = crypto.createHmac('sha256', secret).update(`challenge.${itemId}.${userId}.${issuedMs}.${nonce}`).digest();
  let digits = '';
  for (let i = 0; i < CHALLENGE_DIGITS; i++) digits += String(mac.readUInt16BE(i * 2) % 10);
  return digits;
}

/** The challenge secret: its own key, derived from the ticket secret so that nothing new needs configuring. */
export function challengeSecretOf(ticketSecret: string): Buffer {
  return crypto.createHmac('sha256', ticketSecret).update('challenge-secret').digest();
}

export type ChallengeVerdict = 'ok' | 'challenge_failed';
/**
 * What checkAnswer() finds: too_fast is a failure whose answer came sooner
 * than the think time after its issue, right or wrong (a bot signal,
 * bot-signals.ts); the buyer is told challenge_failed all the same.
 */
export type AnswerVerdict = ChallengeVerdict | 'too_fast';

/** The used table's shared memory. */
export interface UsedChallengeViews {
  /**
   * Float64Array(USED_SLOTS * 2), 16 MiB: key and expiry per slot, so a
   * set's four ways are 64 B, one cache line.
   */
  used: Float64Array;
  /** Int32Array(USED_LOCK_STRIPES), 16 KiB (atomic-lock.ts). */
  locks: Int32Array;
}

export function createUsedChallengeViews(): UsedChallengeViews {
  return {
    used: new Float64Array(new SharedArrayBuffer(USED_SLOTS * USED_FIELDS * Float64Array.BYTES_PER_ELEMENT)),
    locks: createLockWords(USED_LOCK_STRIPES),
  };
}

export class Challenges {
  private readonly used: Float64Array;
  private readonly locks: Int32Array;

  /** Threads that share `used` share which challenges were used. */
  constructor(private readonly secret: Buffer, readonly minThinkMs: number, readonly lifetimeMs: number,
    used: UsedChallengeViews = createUsedChallengeViews()) {
    assert.equal(used.used.length, USED_SLOTS * USED_FIELDS);
    assert.equal(used.locks.length, USED_LOCK_STRIPES);
    this.used = used.used;
    this.locks = used.locks;
  }

  issue(itemId: string, userId: number, nowMs: number): { challenge: string; question: string } {
    const nonce = crypto.randomBytes(12).toString('base64url');
    const answer = challengeAnswer(this.secret, itemId, userId, nowMs, nonce);
    return { challenge: `${nowMs}.${nonce}`, question: drawDigits(answer, crypto.randomBytes(64)) };
  }

  /** Checks an answer and uses the challenge up; every failure is the same refusal. */
  check(itemId: string, userId: number, challenge: unknown, answer: unknown, nowMs: number): ChallengeVerdict {
    return this.checkAnswer(itemId, userId, challenge, answer, nowMs) === 'ok' ? 'ok' : 'challenge_failed';
  }

  /** As check(), saying too_fast for a well-formed answer sent before the think time passed. */
  checkAnswer(itemId: string, userId: number, challenge: unknown, answer: unknown, nowMs: number): AnswerVerdict {
    if (typeof challenge !== 'string' || typeof answer !== 'string') return 'challenge_failed';
    const parts = CHALLENGE_FORMAT.exec(challenge);
    const typed = ANSWER_FORMAT.exec(answer);
    if (parts === null || typed === null) return 'challenge_failed';
    const issuedMs = Number(parts[1]);
    const age = nowMs - issuedMs;
    // Faster than a human can read it, or stale.
    if (age < this.minThinkMs) return 'too_fast';
    if (age > this.lifetimeMs) return 'challenge_failed';
    const expected = challengeAnswer(this.secret, itemId, userId, issuedMs, parts[2]!);
    if (!crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(typed[1]!))) return 'challenge_failed';
    return this.useOnce(challenge, issuedMs + this.lifetimeMs, nowMs) ? 'ok' : 'challenge_failed';
  }

  /** Records the challenge as used; false when it already was. */
  private useOnce(challenge: string, expiresAt: number, nowMs: number): boolean {
    const digest = crypto.createHash('sha256').update(challenge).digest();
    // 53 bits of the digest: a key, never 0 (0 marks an empty slot).
    const key = (digest.readUInt32BE(0) & 0x1fffff) * 4294967296 + digest.readUInt32BE(4) + 1;
    const set = (hashKey(key) & (USED_SLOTS - 1)) & ~(WAYS - 1);
    const stripe = (set / WAYS) & (USED_LOCK_STRIPES - 1);
    lock(this.locks, stripe);
    const fresh = this.claimLocked(set, key, expiresAt, nowMs);
    unlock(this.locks, stripe);
    return fresh;
  }

  /** Scans the set for `key`; when absent, writes it over the way expiring first. Under the set's lock. */
  private claimLocked(set: number, key: number, expiresAt: number, nowMs: number): boolean {
    const used = this.used;
    let victim = set * USED_FIELDS;
    for (let way = victim; way < (set + WAYS) * USED_FIELDS; way += USED_FIELDS) {
      if (used[way + USED_KEY] === key && used[way + USED_UNTIL]! >= nowMs) return false;
      if (used[way + USED_UNTIL]! < used[victim + USED_UNTIL]!) victim = way;
    }
    used[victim + USED_KEY] = key;
    used[victim + USED_UNTIL] = expiresAt;
    return true;
  }
}

// Seven-segment strokes of each digit on a 0..10 x 0..20 cell: a, b, c, d, e, f, g.
const SEGMENTS: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 10, 0], [10, 0, 10, 10], [10, 10, 10, 20], [0, 20, 10, 20], [0, 10, 0, 20], [0, 0, 0, 10], [0, 10, 10, 10],
];
const DIGIT_SEGMENTS = ['abcdef', 'bc', 'abged', 'abgcd', 'fgbc', 'afgcd', 'afgedc', 'abc', 'abcdefg', 'abcdfg'];

/** An SVG of the digits as jittered, rotated strokes with noise lines: no text anywhere. */
export function drawDigits(digits: string, noise: Buffer): string {
  let n = 0;
  const rand = (): number => noise[n++ % noise.length]! / 255;
  const paths: string[] = [];
  for (let i = 0; i < digits.length; i++) {
    const x0 = 14 + i * 26 + rand() * 4;
    const y0 = 10 + rand() * 8;
    const angle = (rand() - 0.5) * 30;
    let d = '';
    for (const name of DIGIT_SEGMENTS[Number(digits[i])]!) {
      const [x1, y1, x2, y2] = SEGMENTS[name.charCodeAt(0) - 97]!;
      const j = (): string => ((rand() - 0.5) * 3).toFixed(1);
      d += `M${(x1 + Number(j())).toFixed(1)} ${(y1 + Number(j())).toFixed(1)}` +
        `L${(x2 + Number(j())).toFixed(1)} ${(y2 + Number(j())).toFixed(1)}`;
    }
    paths.push(`<path transform="translate(${x0.toFixed(1)} ${y0.toFixed(1)}) ` +
      `rotate(${angle.toFixed(1)} 5 10)" d="${d}"/>`);
  }
  for (let k = 0; k < 4; k++) {
    paths.push(`<path class="n" d="M${(rand() * 40).toFixed(0)} ${(rand() * 50).toFixed(0)}` +
      `Q${(rand() * 150).toFixed(0)} ${(rand() * 50).toFixed(0)} ` +
      `${(110 + rand() * 40).toFixed(0)} ${(rand() * 50).toFixed(0)}"/>`);
  }
  return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 150 50" width="300" height="100" '
    + 'role="img" aria-label="challenge">'
    + '<rect width="150" height="50" fill="#f4f1ea"/>'
    + '<g fill="none" stroke="#222" stroke-width="2.2" stroke-linecap="round">'
    + paths.join('') + '</g><style>.n{stroke:#8a8;stroke-width:1}</style></svg>';
}
