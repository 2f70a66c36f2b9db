// Proves the syntax of an Idempotency-Key and the number kept for it
// (engine/idempotency-key.ts): an sf-string or a bare token of 1 to 64
// characters of [A-Za-z0-9._~:+/=-], each boundary and each kind of
// malformed value; the quoted and bare forms are one key; every key's
// number is an integer in [1, 2^52]; and 200,000 distinct keys (UUIDs, and
// short keys that differ in one character or in length only) get distinct
// numbers.

import crypto from 'node:crypto';
import t from 'tap';
import {
  idempotencyKeyOf, isIdempotencyKey, KEY_CHARS_MAX, KEY_MALFORMED, KEY_MAX, KEY_NONE,
} from '../../engine/idempotency-key';

t.test('an empty value is no key; valid keys, quoted or bare, are one number in [1, 2^52]', async (t) => {
  t.equal(idempotencyKeyOf(''), KEY_NONE);
  const uuid = '8e03978e-40d5-43e8-bc93-6894a57f9324';
  const valid = [uuid, 'a', 'x'.repeat(KEY_CHARS_MAX), 'AZaz09._~:+/=-', 'dGVzdA==', '01ARZ3NDEKTSV4RRFFQ69G5FAV'];
  for (const key of valid) {
    const value = idempotencyKeyOf(key);
    t.ok(isIdempotencyKey(value), `${key} is a key`);
    t.equal(idempotencyKeyOf(`"${key}"`), value, `"${key}" is the same key as ${key}`);
  }
  t.equal(KEY_MAX, 2 ** 52);
});

t.test('malformed values are refused: lengths 0 and 65, quotes, and every other character', async (t) => {
  const malformed = ['""', '"', '"abc', 'abc"', 'x'.repeat(KEY_CHARS_MAX + 1), `"${'x'.repeat(KEY_CHARS_MAX + 1)}"`,
    '"a"b"', 'a b', 'ab\\c', 'caf\u00e9', '\u{1F600}', 'a,b', 'a;b'];
  for (const value of malformed) t.equal(idempotencyKeyOf(value), KEY_MALFORMED, JSON.stringify(value));
  let refused = 0;
  let allowed = 0;
  for (let code = 0; code < 256; code++) {
    const char = String.fromCharCode(code);
    const ok = /^[A-Za-z0-9._~:+/=-]$/.test(char);
    const value = idempotencyKeyOf(`k${char}k`);
    if (ok ? isIdempotencyKey(value) : value === KEY_MALFORMED) (ok ? allowed++ : refused++);
  }
  t.equal(allowed, 26 + 26 + 10 + 8, 'each allowed character is taken');
  t.equal(refused, 256 - allowed, 'each other character of 0..255 is refused');
});

t.test('200,000 distinct keys get 200,000 distinct numbers, all in range', async (t) => {
  const seen = new Set<number>();
  let outOfRange = 0;
  const add = (key: string): void => {
    const value = idempotencyKeyOf(key);
    if (!isIdempotencyKey(value)) outOfRange++;
    seen.add(value);
  };
  for (let i = 0; i < 100_000; i++) add(crypto.randomUUID());
  // Near neighbours: one character apart, and one character longer.
  for (let i = 0; i < 50_000; i++) {
    add(`k${i}`);
    add(`k${i}.`);
  }
  t.equal(outOfRange, 0);
  t.equal(seen.size, 200_000, 'no two share a number');
});
