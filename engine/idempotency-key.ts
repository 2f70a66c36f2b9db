// The Idempotency-Key of a buy (the IETF httpapi draft "The Idempotency-Key
// HTTP Header Field"): its syntax, and the number the engine keeps for it.
//
// The draft makes the field an sf-string (RFC 8941): text in double quotes.
// Clients in the wild also send it bare, so both are taken and mean the same
// key. The text inside is 1 to 64 characters of [A-Za-z0-9._~:+/=-]: a UUID,
// a base64 or base64url token or a ULID fits, and no character needs an
// sf-string escape. Anything else is malformed, answered 400 bad_request.
//
// The engine keeps not the text but a number K in [1, 2^52] made of two
// independent 32-bit hashes of it (FNV-1a, and a multiply-xorshift with
// another seed): 52 bits, so K is an exact double and fits the float64
// fields of the shard rings and the log record, where a string could not
// go. Two different keys of one user share K with probability about
// n^2 / 2^53 for n keys of that user: 2^-51 for a user with a few keys, so
// a retry is never mistaken for another buy in practice. Keys are scoped
// to a user, so other users' keys never collide with them at all.
// Parsing reads the string's char codes: no allocation.

import { IDEMPOTENCY_KEY_MAX } from '../persistence/log-constants';

/** The request had no key: the buy is not idempotent. */
export const KEY_NONE = 0;
/** The request had a key that is not a valid one: 400 bad_request. */
export const KEY_MALFORMED = -1;
/** The largest K, 2^52: 20 bits of one hash above 32 of the other, plus one. */
export const KEY_MAX = IDEMPOTENCY_KEY_MAX;

/** Characters of a key's text, longest. */
export const KEY_CHARS_MAX = 64;

const TWO_POW_32 = 4294967296;
const DOUBLE_QUOTE = 0x22;

/** 1 for each char code a key may hold: [A-Za-z0-9._~:+/=-]. */
const KEY_CHAR = (() => {
  const allowed = new Uint8Array(128);
  const mark = (from: string, to: string): void => {
    for (let code = from.charCodeAt(0); code <= to.charCodeAt(0); code++) allowed[code] = 1;
  };
  mark('A', 'Z');
  mark('a', 'z');
  mark('0', '9');
  for (const c of '._~:+/=-') allowed[c.charCodeAt(0)] = 1;
  return allowed;
})();

/**
 * K for a key's field value: KEY_NONE for an empty value (uWebSockets.js
 * gives '' for a missing header), KEY_MALFORMED for one that is not a key.
 */
export function idempotencyKeyOf(value: string): number {
  if (value.length === 0) return KEY_NONE;
  let start = 0;
  let end = value.length;
  if (value.charCodeAt(0) === DOUBLE_QUOTE) {
    if (end < 2 || value.charCodeAt(end - 1) !== DOUBLE_QUOTE) return KEY_MALFORMED;
    start = 1;
    end -= 1;
  }
  if (end - start < 1 || end - start > KEY_CHARS_MAX) return KEY_MALFORMED;
  let fnv = 0x811c9dc5;
  let mix = 0x9747b28c;
  for (let i = start; i < end; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || KEY_CHAR[code] === 0) return KEY_MALFORMED;
    fnv = Math.imul(fnv ^ code, 0x01000193);
    mix = Math.imul(mix ^ code, 0x5bd1e995);
    mix ^= mix >>> 15;
  }
  // The length goes into the second hash, so that no two lengths of one text share a state.
  mix = Math.imul(mix ^ (end - start), 0x85ebca6b);
  mix ^= mix >>> 13;
  return (fnv >>> 12) * TWO_POW_32 + (mix >>> 0) + 1;
}

/** Whether `key` is a K that idempotencyKeyOf can give (the check a decoded log record and the table make). */
export function isIdempotencyKey(key: number): boolean {
  return Number.isSafeInteger(key) && key >= 1 && key <= KEY_MAX;
}
