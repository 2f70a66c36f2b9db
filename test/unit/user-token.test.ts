// Proves that the hand-written HMAC-SHA256 matches node:crypto byte for byte (random keys
// and messages around every padding boundary), that UserTokenVerifier accepts exactly the
// tokens the contract allows (checked against tokens from signUserToken, which uses
// node:crypto, and against hand-made malformed, forged and expired variants), and that
// extractToken finds the token in the Authorization header or the fs_user cookie.

import t from 'tap';
import { createHmac, randomBytes } from 'node:crypto';
import { HmacSha256 } from '../../engine/hmac-sha256';
import { UserTokenVerifier, extractToken, signUserToken, verifyRequestToken } from '../../engine/user-token';

const SECRET = 'test-secret-do-not-use';
const EXP = 2_000_000_000; // 2033-05-18, far enough ahead for "now" below.
const NOW = 1_700_000_000_000;
const MAX_ID = Number.MAX_SAFE_INTEGER;

/** Signs an arbitrary payload the way the contract says, for building malformed tokens. */
function sign(payload: string, secret = SECRET): string {
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

t.test('HmacSha256 equals node:crypto for random keys and messages of every tricky length', async (t) => {
  const keyLengths = [0, 1, 32, 63, 64, 65, 200];
  const out = new Uint8Array(32);
  let checked = 0;
  for (const keyLength of keyLengths) {
    const key = randomBytes(keyLength);
    const mac = new HmacSha256(key);
    for (let length = 0; length <= 300; length++) {
      // Pad the buffer so that bytes past `length` are present but must be ignored.
      const message = randomBytes(length + 7);
      mac.digestInto(message, length, out);
      const want = createHmac('sha256', key).update(message.subarray(0, length)).digest();
      if (!Buffer.from(out).equals(want)) {
        t.fail(`mismatch for key length ${keyLength}, message length ${length}`);
        return;
      }
      checked++;
    }
  }
  t.equal(checked, keyLengths.length * 301, 'every key and message length was compared');
});

t.test('HmacSha256 gives the same MAC when reused, so no state leaks between calls', async (t) => {
  const mac = new HmacSha256(Buffer.from('key'));
  const message = Buffer.from('The quick brown fox jumps over the lazy dog');
  const want = createHmac('sha256', 'key').update(message).digest('hex');
  const out = new Uint8Array(32);
  for (let i = 0; i < 3; i++) {
    mac.digestInto(Buffer.from(randomBytes(100)), 100, new Uint8Array(32));
    mac.digestInto(message, message.length, out);
    t.equal(Buffer.from(out).toString('hex'), want);
  }
  t.equal(want, 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8', 'the RFC test vector holds');
});

t.test('verify returns the userId of tokens made by signUserToken, including 1 and 2^53-1', async (t) => {
  const verifier = new UserTokenVerifier(SECRET);
  for (const id of [1, 9, 10, 42, 123456789, 2 ** 32, 2 ** 52 + 1, MAX_ID]) {
    t.equal(verifier.verify(signUserToken(SECRET, id, EXP), NOW), id, `userId ${id}`);
  }
  t.equal(verifier.verify(signUserToken(SECRET, 7, 999_999_999_999), NOW), 7, 'a 12-digit expiry is accepted');
});

t.test('a verifier built from a byte secret accepts tokens signed with the same bytes', async (t) => {
  const secret = randomBytes(48);
  const verifier = new UserTokenVerifier(secret);
  t.equal(verifier.verify(signUserToken(secret, 77, EXP), NOW), 77);
  t.equal(verifier.verify(signUserToken(secret.toString('hex'), 77, EXP), NOW), 0, 'other bytes do not verify');
});

t.test('verify returns 0 for every malformed form, even when correctly signed', async (t) => {
  const verifier = new UserTokenVerifier(SECRET);
  const good = signUserToken(SECRET, 5, EXP);
  const sig = good.slice(good.lastIndexOf('.') + 1);
  t.equal(verifier.verify(good, NOW), 5, 'the unaltered token is valid, so each rejection below is due to its change');
  const cases: Array<[string, string]> = [
    ['empty token', ''],
    ['wrong prefix', sign(`v2.5.${EXP}`)],
    ['upper-case prefix', sign(`V1.5.${EXP}`)],
    ['missing prefix', sign(`5.${EXP}`)],
    ['userId 0', sign(`v1.0.${EXP}`)],
    ['userId with leading zero', sign(`v1.05.${EXP}`)],
    ['userId 2^53', sign(`v1.9007199254740992.${EXP}`)],
    ['userId with 17 digits', sign(`v1.10000000000000000.${EXP}`)],
    ['negative userId', sign(`v1.-5.${EXP}`)],
    ['userId with a sign', sign(`v1.+5.${EXP}`)],
    ['userId with a non-digit', sign(`v1.5a.${EXP}`)],
    ['userId with a space', sign(`v1. 5.${EXP}`)],
    ['userId with a char whose low byte is a digit', sign(`v1.\u0135.${EXP}`)],
    ['empty userId', sign(`v1..${EXP}`)],
    ['empty expiry', sign('v1.5.')],
    ['expiry with leading zero', sign(`v1.5.0${EXP}`)],
    ['expiry 0', sign('v1.5.0')],
    ['expiry with 13 digits', sign('v1.5.1000000000000')],
    ['expiry with a non-digit', sign(`v1.5.${EXP}x`)],
    ['fractional expiry', sign(`v1.5.${EXP}.5`)],
    ['missing signature', `v1.5.${EXP}`],
    ['empty signature', `v1.5.${EXP}.`],
    ['signature with padding', `${good}=`],
    ['signature one char short', good.slice(0, -1)],
    ['trailing characters', `${good}x`],
    ['trailing dot', `${good}.`],
    ['trailing whitespace', `${good} `],
    ['leading whitespace', ` ${good}`],
    ['a "+" from the standard base64 alphabet', `${good.slice(0, -5)}+${good.slice(-4)}`],
    ['a "/" from the standard base64 alphabet', `${good.slice(0, -5)}/${good.slice(-4)}`],
    ['signature with a non-ASCII character', `${good.slice(0, -2)}\u0141${good.slice(-1)}`],
    ['token longer than 128 characters', `v1.5.${EXP}.${sig}${'A'.repeat(129)}`],
  ];
  for (const [name, token] of cases) t.equal(verifier.verify(token, NOW), 0, name);
});

t.test('verify returns 0 for non-canonical signatures whose last char has low bits set', async (t) => {
  const verifier = new UserTokenVerifier(SECRET);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const good = signUserToken(SECRET, 5, EXP);
  const last = alphabet.indexOf(good[good.length - 1]!);
  t.equal(last & 3, 0, 'node:crypto emits a canonical last character');
  for (let low = 1; low < 4; low++) {
    // Same 256 decoded bits, different string: must not verify.
    t.equal(verifier.verify(good.slice(0, -1) + alphabet[last | low], NOW), 0, `low bits ${low}`);
  }
});

t.test('verify returns 0 for forged signatures and tokens signed with another secret', async (t) => {
  const verifier = new UserTokenVerifier(SECRET);
  const good = signUserToken(SECRET, 5, EXP);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const sigStart = good.lastIndexOf('.') + 1;
  for (let i = sigStart; i < good.length; i++) {
    const flipped = alphabet[(alphabet.indexOf(good[i]!) + 4) % 64]; // keeps the low 2 bits
    const forged = good.slice(0, i) + flipped + good.slice(i + 1);
    if (verifier.verify(forged, NOW) !== 0) t.fail(`flipping char ${i} was accepted`);
  }
  const lastValue = alphabet.indexOf(good[good.length - 1]!);
  t.equal(verifier.verify(good.slice(0, -1) + alphabet[lastValue ^ 4], NOW), 0, 'one bit flipped in the last char');
  t.equal(verifier.verify(signUserToken('another-secret', 5, EXP), NOW), 0, 'another secret');
  t.equal(verifier.verify(good.replace('v1.5.', 'v1.6.'), NOW), 0, 'a userId swapped under a valid signature');
  t.equal(verifier.verify(good.replace(`.${EXP}.`, `.${EXP + 1}.`), NOW), 0, 'an extended expiry');
});

t.test('a token expires exactly at its expiry second and is valid one millisecond before', async (t) => {
  const verifier = new UserTokenVerifier(SECRET);
  const token = signUserToken(SECRET, 99, EXP);
  t.equal(verifier.verify(token, EXP * 1000 - 1), 99, 'one ms before expiry');
  t.equal(verifier.verify(token, EXP * 1000), 0, 'exactly at expiry');
  t.equal(verifier.verify(token, EXP * 1000 + 1), 0, 'after expiry');
});

t.test('signUserToken refuses ids and expiries the contract does not allow', async (t) => {
  for (const id of [0, -1, 1.5, MAX_ID + 1, NaN]) t.throws(() => signUserToken(SECRET, id, EXP), RangeError);
  for (const exp of [0, 1.5, 1e12]) t.throws(() => signUserToken(SECRET, 1, exp), RangeError);
});

t.test('extractToken prefers the Bearer header, then the fs_user cookie, else returns ""', async (t) => {
  t.equal(extractToken('Bearer abc.def', ''), 'abc.def', 'Bearer header');
  t.equal(extractToken('bearer abc', 'fs_user=zzz'), 'abc', 'the scheme is case-insensitive');
  t.equal(extractToken('Bearer abc', 'fs_user=zzz'), 'abc', 'the header wins over the cookie');
  t.equal(extractToken('Bearer ', 'fs_user=zzz'), 'zzz', 'an empty Bearer falls back to the cookie');
  t.equal(extractToken('Basic dXNlcjpwdw==', 'fs_user=zzz'), 'zzz', 'another scheme falls back to the cookie');
  t.equal(extractToken('Bearerabc', ''), '', 'no space after the scheme is not a Bearer header');
  t.equal(extractToken('', 'fs_user=tok'), 'tok', 'the only cookie');
  t.equal(extractToken('', 'a=1; fs_user=tok; b=2'), 'tok', 'a cookie among others');
  t.equal(extractToken('', 'a=1;fs_user=tok'), 'tok', 'a cookie after ";" with no space');
  t.equal(extractToken('', 'a=1; fs_user=tok '), 'tok', 'trailing whitespace is dropped');
  t.equal(extractToken('', 'xfs_user=bad; fs_user=tok'), 'tok', 'a name that merely ends in fs_user is skipped');
  t.equal(extractToken('', 'xfs_user=bad'), '', 'only a look-alike cookie');
  t.equal(extractToken('', 'a=1; b=2'), '', 'no fs_user cookie');
  t.equal(extractToken('', ''), '', 'nothing at all');
});

t.test('the cache of verified tokens never accepts a token that was not valid', async (t) => {
  const verifier = new UserTokenVerifier(SECRET_FOR_CACHE);
  const exp = Math.floor(NOW_FOR_CACHE / 1000) + 60;
  const valid = signUserToken(SECRET_FOR_CACHE, 77, exp);
  t.equal(verifier.verify(valid, NOW_FOR_CACHE), 77, 'first check: by MAC');
  t.equal(verifier.verify(valid, NOW_FOR_CACHE), 77, 'second check: from the cache');
  for (let at = valid.length - 43; at < valid.length; at++) {
    const flipped = valid.slice(0, at) + (valid[at] === 'A' ? 'B' : 'A') + valid.slice(at + 1);
    t.equal(verifier.verify(flipped, NOW_FOR_CACHE), 0,
      `a signature changed at ${at} is refused after the real one was cached`);
  }
  t.equal(verifier.verify(valid, exp * 1000), 0, 'a cached token still expires');
  t.equal(verifier.verify(valid, NOW_FOR_CACHE), 77, 'and is good again before its expiry');
  // Fill far more tokens than the cache has slots: evicted tokens are checked by MAC again.
  for (let user = 1000; user < 30_000; user++) {
    verifier.verify(signUserToken(SECRET_FOR_CACHE, user, exp), NOW_FOR_CACHE);
  }
  t.equal(verifier.verify(valid, NOW_FOR_CACHE), 77, 'a token evicted from the cache is still valid');
  const other = new UserTokenVerifier('another secret of enough length, 32+ bytes');
  t.equal(other.verify(valid, NOW_FOR_CACHE), 0, 'caches are per secret');
});

t.test('verifyRequestToken reads Bearer tokens in place and falls back to the fs_user cookie', async (t) => {
  const verifier = new UserTokenVerifier(SECRET_FOR_CACHE);
  const token = signUserToken(SECRET_FOR_CACHE, 5, Math.floor(NOW_FOR_CACHE / 1000) + 60);
  const headers = (cookie: string) => ({ getHeader: () => cookie });
  t.equal(verifyRequestToken(verifier, `Bearer ${token}`, headers(''), 'cookie', NOW_FOR_CACHE), 5);
  t.equal(verifyRequestToken(verifier, `bearer   ${token}  `, headers(''), 'cookie', NOW_FOR_CACHE), 5,
    'any case, spaces around');
  t.equal(verifyRequestToken(verifier, '', headers(`a=b; fs_user=${token}`), 'cookie', NOW_FOR_CACHE), 5, 'the cookie');
  t.equal(verifyRequestToken(verifier, 'Basic abc', headers(`fs_user=${token}`), 'cookie', NOW_FOR_CACHE), 5,
    'another scheme falls back to the cookie');
  t.equal(verifyRequestToken(verifier, 'Bearer ', headers(''), 'cookie', NOW_FOR_CACHE), 0, 'empty bearer, no cookie');
  t.equal(verifyRequestToken(verifier, `Bearer ${token}x`, headers(''), 'cookie', NOW_FOR_CACHE), 0, 'trailing junk');
});

const SECRET_FOR_CACHE = 'a secret for the cache tests, over 32 bytes';
const NOW_FOR_CACHE = 1_800_000_000_000;
