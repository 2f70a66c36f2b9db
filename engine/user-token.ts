// Signed user tokens: "v1.<userId>.<expiresEpochSeconds>.<sig>", where sig is the unpadded
// base64url HMAC-SHA256 of everything before the last dot. The verifier runs on every
// request, so it parses by character code into preallocated buffers and never allocates.

import { createHmac } from 'node:crypto';
import { HmacSha256 } from './hmac-sha256';

const MAX_TOKEN_LENGTH = 128;
const MAX_ID_DIGITS = 16;
const MAX_EXPIRY_DIGITS = 12;
const SIG_CHARS = 43; // ceil(32 * 8 / 6) characters, unpadded.
const SIG_BYTES = 32;
const CACHE_SLOTS = 65_536;
const DOT = 0x2e;
const ZERO = 0x30;

// Maps an ASCII code to its base64url value, or -1. Int8Array keeps -1 signed so that
// OR-ing decoded values together flags any invalid character with a negative result.
const B64URL = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  .split('')
  .forEach((ch, i) => { B64URL[ch.charCodeAt(0)] = i; });

function toKey(secret: string | Uint8Array): Uint8Array {
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
}

export class UserTokenVerifier {
  private readonly hmac: HmacSha256;
  // The token's characters as bytes; the signed part is fed to the HMAC straight from here.
  private readonly chars = new Uint8Array(MAX_TOKEN_LENGTH);
  private readonly expected = new Uint8Array(SIG_BYTES);
  private readonly given = new Uint8Array(SIG_BYTES);
  private signedLength = 0;
  /**
   * Expiry (epoch ms) of the last token verify() or verifyRange() accepted:
   * a WebSocket keeps it, so that the socket stops buying when the token it
   * was opened with expires (read it right after the call that accepted).
   */
  lastExpiresMs = 0;
  /**
   * Recently verified tokens, direct-mapped by a hash of their characters:
   * CACHE_SLOTS * MAX_TOKEN_LENGTH bytes (8 MiB: the tokens of a 65,536-shopper
   * crowd, so their retries skip the HMAC). A slot holds a token only
   * after its MAC checked out, and a hit needs every byte equal, so the cache
   * can only say yes to a token that was valid; expiry is checked every time.
   * Each HTTP thread keeps its own cache, not shared memory: a miss costs
   * only an HMAC and the answer is the same on any thread, so a cache needs
   * no exactness across threads and no lock on the verify path.
   */
  private readonly cacheBytes = new Uint8Array(CACHE_SLOTS * MAX_TOKEN_LENGTH);
  private readonly cacheLength = new Uint8Array(CACHE_SLOTS);

  constructor(secret: string | Uint8Array) {
    this.hmac = new HmacSha256(toKey(secret));
  }

  /** Returns the token's userId if it is well-formed, correctly signed and unexpired at nowMs, else 0. */
  verify(token: string, nowMs: number): number {
    return this.verifyRange(token, 0, token.length, nowMs);
  }

  /**
   * Like verify() for the token in source[start, end), so that a header value
   * can be checked without cutting the token out of it (no string per request).
   */
  verifyRange(source: string, start: number, end: number, nowMs: number): number {
    const len = end - start;
    if (len > MAX_TOKEN_LENGTH || len < 0) return 0;
    const c = this.chars;
    let hash = 0x811c9dc5;
    for (let i = 0; i < len; i++) {
      const code = source.charCodeAt(start + i);
      // Non-ASCII characters would be truncated by the Uint8Array into look-alike bytes.
      if (code > 0x7f) return 0;
      c[i] = code;
      hash = Math.imul(hash ^ code, 0x01000193);
    }
    const userId = this.parse(len, nowMs);
    if (userId === 0) return 0;
    // A token verified before is recognised by comparing all its bytes with the
    // cached copy in constant time: about a tenth of the cost of the MAC.
    const slot = (hash >>> 0) & (CACHE_SLOTS - 1);
    if (this.cacheLength[slot] === len && this.matchesCached(slot, len)) return userId;
    if (!decodeSignature(c, this.signedLength + 1, this.given)) return 0;
    this.hmac.digestInto(c, this.signedLength, this.expected);
    if (!constantTimeEqual(this.expected, this.given)) return 0;
    this.cacheBytes.set(c.subarray(0, len), slot * MAX_TOKEN_LENGTH);
    this.cacheLength[slot] = len;
    return userId;
  }

  private matchesCached(slot: number, len: number): boolean {
    const c = this.chars;
    const cached = this.cacheBytes;
    const base = slot * MAX_TOKEN_LENGTH;
    let diff = 0;
    for (let i = 0; i < len; i++) diff |= c[i]! ^ cached[base + i]!;
    return diff === 0;
  }

  /** Checks the shape and expiry of the token in chars[0, len); returns its userId, or 0. Sets signedLength. */
  private parse(len: number, nowMs: number): number {
    const c = this.chars;
    if (len < 3 || c[0] !== 0x76 || c[1] !== 0x31 || c[2] !== DOT) return 0; // "v1."

    let i = 3;
    const idStart = i;
    let userId = 0;
    for (; i < len && c[i] !== DOT; i++) {
      const d = c[i]! - ZERO;
      if (d < 0 || d > 9) return 0;
      userId = userId * 10 + d;
    }
    const idDigits = i - idStart;
    if (idDigits === 0 || idDigits > MAX_ID_DIGITS || c[idStart] === ZERO) return 0;
    // Rounding above 2^53 is monotonic, so an out-of-range id never rounds back into range.
    if (userId > Number.MAX_SAFE_INTEGER || i === len) return 0;

    const expStart = ++i;
    let expires = 0;
    for (; i < len && c[i] !== DOT; i++) {
      const d = c[i]! - ZERO;
      if (d < 0 || d > 9) return 0;
      expires = expires * 10 + d;
    }
    const expDigits = i - expStart;
    if (expDigits === 0 || expDigits > MAX_EXPIRY_DIGITS || c[expStart] === ZERO || i === len) return 0;
    const signedLength = i;
    if (len - signedLength - 1 !== SIG_CHARS) return 0;
    // Expiry is public, so checking it before the MAC leaks nothing and skips the hashing.
    if (expires * 1000 <= nowMs) return 0;
    this.signedLength = signedLength;
    this.lastExpiresMs = expires * 1000;
    return userId;
  }
}

/**
 * Decodes exactly 43 base64url characters at c[from..] into 32 bytes. Rejects invalid
 * characters and non-canonical encodings: 43 characters carry 258 bits, so the last
 * character's two low bits must be zero or two different strings would verify alike.
 */
function decodeSignature(c: Uint8Array, from: number, out: Uint8Array): boolean {
  let bad = 0;
  let o = 0;
  let p = from;
  for (let g = 0; g < 10; g++, p += 4) {
    const a = B64URL[c[p]!]!, b = B64URL[c[p + 1]!]!, d = B64URL[c[p + 2]!]!, e = B64URL[c[p + 3]!]!;
    bad |= a | b | d | e;
    const v = (a << 18) | (b << 12) | (d << 6) | e;
    out[o++] = v >>> 16;
    out[o++] = v >>> 8;
    out[o++] = v;
  }
  const a = B64URL[c[p]!]!, b = B64URL[c[p + 1]!]!, d = B64URL[c[p + 2]!]!;
  bad |= a | b | d;
  const v = (a << 12) | (b << 6) | d;
  out[o++] = v >>> 10;
  out[o] = v >>> 2;
  return bad >= 0 && (d & 3) === 0;
}

/** Compares all 32 bytes with no early exit, so timing does not reveal how many matched. */
function constantTimeEqual(x: Uint8Array, y: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < SIG_BYTES; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

/** Issues a token for tools and tests; throws RangeError on ids or expiries outside the contract. */
export function signUserToken(secret: string | Uint8Array, userId: number, expiresEpochSeconds: number): string {
  if (!Number.isSafeInteger(userId) || userId < 1) throw new RangeError(`userId out of range: ${userId}`);
  if (!Number.isSafeInteger(expiresEpochSeconds) || expiresEpochSeconds < 1 || expiresEpochSeconds >= 1e12) {
    throw new RangeError(`expiresEpochSeconds out of range: ${expiresEpochSeconds}`);
  }
  const payload = `v1.${userId}.${expiresEpochSeconds}`;
  return `${payload}.${createHmac('sha256', toKey(secret)).update(payload).digest('base64url')}`;
}

const BEARER = 'bearer ';
const COOKIE_NAME = 'fs_user=';

/**
 * Returns the token from an "Authorization: Bearer <token>" value if there is one,
 * else from the fs_user cookie, else "". Uses charCodeAt/indexOf/slice only, since it
 * runs on every request.
 */
/**
 * Whether a request presents a user token at all: a Bearer Authorization
 * header or an fs_user cookie, as HTTP reads them. Another scheme (Basic) or
 * a cookie whose name only ends in fs_user presents none.
 */
export function presentsToken(authorization: string, cookie: string): boolean {
  return (authorization.length > BEARER.length && hasBearerScheme(authorization)) || extractToken('', cookie) !== '';
}

export function extractToken(authorization: string, cookie: string): string {
  if (authorization.length > BEARER.length && hasBearerScheme(authorization)) {
    const token = authorization.slice(BEARER.length).trim();
    if (token.length > 0) return token;
  }
  let at = cookie.indexOf(COOKIE_NAME);
  while (at !== -1) {
    // The name must start a pair, so "xfs_user=" does not count.
    const before = at === 0 ? 0x3b : cookie.charCodeAt(at - 1);
    if (before === 0x3b || before === 0x20 || before === 0x09) {
      const start = at + COOKIE_NAME.length;
      let end = cookie.indexOf(';', start);
      if (end === -1) end = cookie.length;
      while (end > start && cookie.charCodeAt(end - 1) <= 0x20) end--;
      return cookie.slice(start, end);
    }
    at = cookie.indexOf(COOKIE_NAME, at + 1);
  }
  return '';
}

/**
 * Verifies the request's token where it stands in the Authorization header
 * ("Bearer <token>") or else the fs_user cookie, without slicing it out.
 * Returns the userId or 0.
 */
export function verifyRequestToken(verifier: UserTokenVerifier, authorization: string, headers: HeaderSource,
  cookieKey: HeaderKey, nowMs: number): number {
  if (authorization.length > BEARER.length && hasBearerScheme(authorization)) {
    let start = BEARER.length;
    let end = authorization.length;
    while (start < end && authorization.charCodeAt(start) <= 0x20) start++;
    while (end > start && authorization.charCodeAt(end - 1) <= 0x20) end--;
    if (end > start) return verifier.verifyRange(authorization, start, end, nowMs);
  }
  // The cookie header is read only when there is no usable Bearer token.
  const token = extractToken('', headers.getHeader(cookieKey));
  return token === '' ? 0 : verifier.verify(token, nowMs);
}

type HeaderKey = string | Uint8Array;
/** A request's headers, as uWebSockets.js's HttpRequest gives them (lower-case keys). */
export interface HeaderSource {
  getHeader(lowerCaseKey: HeaderKey): string;
}

/** The auth scheme is case-insensitive (RFC 9110), so compare "Bearer " ignoring ASCII case. */
export function hasBearerScheme(s: string): boolean {
  for (let i = 0; i < BEARER.length - 1; i++) {
    if ((s.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return false;
  }
  return s.charCodeAt(BEARER.length - 1) === 0x20;
}
