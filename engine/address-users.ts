// How many distinct users each client address block has been seen with, for
// the admin's suspects list: one address behind which many accounts buy is a
// bot farm (or a large NAT, which is why the admin decides, not the engine).
// The unit is the block an operator would ban: a /24 for IPv4 and a /64 for
// IPv6, since one host commonly holds a whole /64 and a small farm a /24;
// the block is listed as that CIDR text, ready for POST /admin/bans.
//
// A user is counted on the occasions where the address is at hand anyway and
// that are not a buy going on to a shard: a challenge issued, a WebSocket
// opened with a token, a buy refused not_started or challenge_failed
// (bot-signals.ts). So the buy path pays nothing for it.
//
// Cross-thread design: shared memory with Atomics (see atomic-lock.ts for
// why not partitioning): any HTTP thread notes, the main thread reads. Two
// insert-only tables (keyed-entries.ts) under one lock word: the blocks
// (key: family and prefix; fields: distinct users, last seen) and the
// (block, user) pairs already counted. Either table full: the sighting is
// counted in OVERFLOW (flash_signal_table_full_total) and dropped.
//
//   block entry n (Float64Array, BLOCK_FIELDS = 4 numbers, 32 B):
//     [0] family * 2^32 + the prefix's first 32 bits (IPv4: its 24 bits)
//     [1] the /64's second 32 bits (IPv4: 0)
//     [2] distinct users   [3] last seen (epoch ms)
//   pair entry (2 numbers, 16 B): [0] block entry + 1, [1] user id

import assert from 'node:assert/strict';
import net from 'node:net';
import { createLockWords, lock, unlock } from './atomic-lock';
import { parseRange } from './ban-list';
import { TWO_POW_32 } from './key-hash';
import { createKeyedEntriesViews, KeyedEntries, TABLE_FULL, type KeyedEntriesViews } from './keyed-entries';

const LOCK = 0;
const BLOCK_COUNT = 1;
const PAIR_COUNT = 2;
/** Sightings a full table could not take. */
const OVERFLOW = 3;
/** Blocks whose distinct users reached the suspect bound. */
const SUSPECT_COUNT = 4;
const CONTROL_WORDS = 5;

const USERS = 2;
const LAST_AT = 3;
const BLOCK_FIELDS = 4;
const PAIR_FIELDS = 2;

export interface AddressUserViews {
  blocks: KeyedEntriesViews;
  pairs: KeyedEntriesViews;
  /** Int32Array(5): [LOCK, BLOCK_COUNT, PAIR_COUNT, OVERFLOW, SUSPECT_COUNT], written under LOCK. */
  control: Int32Array;
}

export function createAddressUserViews(blocks: number, pairs: number): AddressUserViews {
  return {
    blocks: createKeyedEntriesViews(blocks, BLOCK_FIELDS),
    pairs: createKeyedEntriesViews(pairs, PAIR_FIELDS),
    control: createLockWords(CONTROL_WORDS),
  };
}

/** A block as the admin reads it. */
export interface SuspectAddress {
  /** The block as a CIDR range: "a.b.c.0/24" or "x:x:x:x::/64". */
  address: string;
  users: number;
  lastAt: number;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else the bytes as they are. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.subarray(12);
}

/**
 * The /24 prefix of dotted-quad IPv4 text as a 24-bit number, or -1 when
 * `text` is not one. Read digit by digit: a proxy header is parsed on every
 * sighting, and parseRange's split and arrays made a whole early-buy signal
 * cost 2.9 to 3.0 µs, against 0.8 to 1.0 µs with this (a loop of 200,000 in one
 * process, 2-core EPYC under other load; a socket address: 0.7 to 0.9 µs).
 */
function ipv4Prefix(text: string): number {
  let prefix = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      // No leading zeros, as net.isIP refuses them.
      if (octet === 0) return -1;
      octet = (octet < 0 ? 0 : octet * 10) + code - 48;
      if (octet > 255) return -1;
    } else if (code === 46 && octet >= 0 && dots < 3) {
      prefix = prefix * 256 + octet;
      dots++;
      octet = -1;
    } else {
      return -1;
    }
  }
  return dots === 3 && octet >= 0 ? prefix : -1;
}

/**
 * The block's key of a client address (the socket's 4 or 16 bytes, or a
 * trusted proxy header whose last entry is the address) written into
 * `key[0]` and `key[1]`; false when the header holds no address.
 */
export function blockKeyOf(address: ArrayBuffer | string, key: Float64Array): boolean {
  let bytes: Uint8Array;
  if (typeof address === 'string') {
    const last = address.slice(address.lastIndexOf(',') + 1).trim();
    const prefix = ipv4Prefix(last);
    if (prefix >= 0) {
      key[0] = 4 * TWO_POW_32 + prefix;
      key[1] = 0;
      return true;
    }
    if (net.isIP(last) !== 6) return false;
    bytes = parseRange(last).bytes;
  } else {
    bytes = new Uint8Array(address);
  }
  bytes = unmapped(bytes);
  if (bytes.length === 4) {
    key[0] = 4 * TWO_POW_32 + ((bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!);
    key[1] = 0;
    return true;
  }
  if (bytes.length !== 16) return false;
  const word = (i: number): number =>
    ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
  key[0] = 6 * TWO_POW_32 + word(0);
  key[1] = word(4);
  return true;
}

/** The CIDR text of a block's key. */
export function blockText(first: number, second: number): string {
  const family = Math.floor(first / TWO_POW_32);
  const prefix = first - family * TWO_POW_32;
  if (family === 4) return `${prefix >>> 16}.${(prefix >>> 8) & 0xff}.${prefix & 0xff}.0/24`;
  assert.equal(family, 6);
  const hex = (word: number): string => `${(word >>> 16).toString(16)}:${(word & 0xffff).toString(16)}`;
  return `${hex(prefix)}:${hex(second)}::/64`;
}

export class AddressUsers {
  private readonly blocks: KeyedEntries;
  private readonly pairs: KeyedEntries;
  private readonly control: Int32Array;
  /** One per thread's object, reused: a sighting allocates nothing for a socket address. */
  private readonly key = new Float64Array(2);

  /**
   * `suspectUsers` is the distinct users at which a block counts as
   * suspect (--suspect-address-users); every thread sharing `views` must
   * pass the same.
   */
  constructor(readonly blockCapacity: number, readonly pairCapacity: number, readonly suspectUsers: number,
    views: AddressUserViews = createAddressUserViews(blockCapacity, pairCapacity)) {
    assert.ok(suspectUsers >= 1);
    this.control = views.control;
    this.blocks = new KeyedEntries(blockCapacity, BLOCK_FIELDS, views.blocks, views.control, BLOCK_COUNT);
    this.pairs = new KeyedEntries(pairCapacity, PAIR_FIELDS, views.pairs, views.control, PAIR_COUNT);
  }

  /** Sightings dropped because a table was full. */
  get overflow(): number {
    return Atomics.load(this.control, OVERFLOW);
  }

  /** Blocks seen with at least `suspectUsers` distinct users. */
  get suspects(): number {
    return Atomics.load(this.control, SUSPECT_COUNT);
  }

  /** Blocks seen, and (block, user) pairs counted. */
  get size(): { blocks: number; pairs: number } {
    return { blocks: Atomics.load(this.control, BLOCK_COUNT), pairs: Atomics.load(this.control, PAIR_COUNT) };
  }

  /** `userId` was seen at `address`: counts the user on its block once. */
  note(address: ArrayBuffer | string, userId: number, nowMs: number): void {
    assert.ok(userId > 0);
    const { key, control } = this;
    if (!blockKeyOf(address, key)) return;
    lock(control, LOCK);
    const block = this.blocks.findOrAdd(key[0]!, key[1]!);
    if (block === TABLE_FULL) {
      control[OVERFLOW] = control[OVERFLOW]! + 1;
    } else {
      const at = block * BLOCK_FIELDS;
      const entries = this.blocks.entries;
      if (nowMs > entries[at + LAST_AT]!) entries[at + LAST_AT] = nowMs;
      const pair = this.pairs.findOrAdd(block + 1, userId);
      if (pair === TABLE_FULL) control[OVERFLOW] = control[OVERFLOW]! + 1;
      else if (this.pairs.added) {
        entries[at + USERS] = entries[at + USERS]! + 1;
        if (entries[at + USERS] === this.suspectUsers) control[SUSPECT_COUNT] = control[SUSPECT_COUNT]! + 1;
      }
    }
    unlock(control, LOCK);
  }

  /** Distinct users seen at `address`'s block (0 when never seen). */
  usersAt(address: ArrayBuffer | string): number {
    const key = new Float64Array(2);
    if (!blockKeyOf(address, key)) return 0;
    lock(this.control, LOCK);
    const block = this.blocks.find(key[0]!, key[1]!);
    const users = block < 0 ? 0 : this.blocks.entries[block * BLOCK_FIELDS + USERS]!;
    unlock(this.control, LOCK);
    return users;
  }

  /** The blocks with at least `suspectUsers` users, copied under the lock (at most blockCapacity * 32 B). */
  readSuspects(): SuspectAddress[] {
    lock(this.control, LOCK);
    const entries = this.blocks.entries.slice(0, this.blocks.count * BLOCK_FIELDS);
    unlock(this.control, LOCK);
    const suspects: SuspectAddress[] = [];
    for (let at = 0; at < entries.length; at += BLOCK_FIELDS) {
      if (entries[at + USERS]! < this.suspectUsers) continue;
      suspects.push({ address: blockText(entries[at]!, entries[at + 1]!), users: entries[at + USERS]!,
        lastAt: entries[at + LAST_AT]! });
    }
    return suspects;
  }
}
