// Bans set by admins: user ids and client address ranges (IPv4 or IPv6
// CIDR). Admins add a handful, attackers add none, so plain collections
// serve; the buy path asks only when a ban of that kind exists, and looks at
// the client address only then.

import net from 'node:net';

/** A CIDR range as bytes: 4 for IPv4, 16 for IPv6. */
export interface AddressRange {
  text: string;
  bytes: Uint8Array;
  prefixBits: number;
}

export class BanError extends Error {
  override name = 'BanError';
}

/** Parses "a.b.c.d/nn", "x::y/nn" or a single address into bytes and a prefix length. */
export function parseRange(text: string): AddressRange {
  const [address, prefix, extra] = text.split('/');
  if (extra !== undefined || address === undefined) throw new BanError(`not an address range: ${text}`);
  const family = net.isIP(address);
  if (family === 0) throw new BanError(`not an IP address: ${address}`);
  const bytes = family === 4 ? Uint8Array.from(address.split('.').map(Number)) : ipv6Bytes(address);
  const prefixBits = prefix === undefined ? bytes.length * 8 : Number(prefix);
  if (!/^[0-9]+$/.test(prefix ?? '0') || prefixBits > bytes.length * 8) {
    throw new BanError(`bad prefix length in ${text}`);
  }
  return { text, bytes, prefixBits };
}

function ipv6Bytes(address: string): Uint8Array {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  // An IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const expand = (list: string[]): number[] => list.flatMap((g) => (g.includes('.') ? (() => {
    const v4 = g.split('.').map(Number);
    return [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
  })() : [parseInt(g, 16)]));
  const l = expand(left);
  const r = expand(right);
  const words = tail === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), or the bytes as they are. */
function canonical(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.subarray(12);
  }
  return bytes;
}

/** True when the address (4 or 16 bytes, as uWS gives it) falls in one of `ranges`. */
export function addressInRanges(address: ArrayBuffer, ranges: readonly AddressRange[]): boolean {
  const bytes = new Uint8Array(address);
  // A plain loop: with --rate-exempt set this runs for every buy.
  for (let i = 0; i < ranges.length; i++) if (inRange(bytes, ranges[i]!)) return true;
  return false;
}

/**
 * True when the address in a proxy header falls in one of `ranges`: the
 * header's last entry (the one the trusted proxy itself appended). A header
 * that holds no address is in none.
 */
export function headerAddressInRanges(header: string, ranges: readonly AddressRange[]): boolean {
  const last = header.slice(header.lastIndexOf(',') + 1).trim();
  if (net.isIP(last) === 0) return false;
  const { bytes } = parseRange(last);
  return ranges.some((range) => inRange(bytes, range));
}

function inRange(address: Uint8Array, range: AddressRange): boolean {
  const bytes = canonical(address);
  const rangeBytes = canonical(range.bytes);
  if (bytes.length !== rangeBytes.length) return false;
  const prefixBits = range.prefixBits - (range.bytes.length - rangeBytes.length) * 8;
  let bits = prefixBits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (rangeBytes[i]! & mask)) return false;
  }
  return true;
}

export class BanList {
  readonly users = new Set<number>();
  readonly ranges: AddressRange[] = [];

  banUser(userId: number): void {
    this.users.add(userId);
  }

  unbanUser(userId: number): boolean {
    return this.users.delete(userId);
  }

  banRange(text: string): AddressRange {
    const range = parseRange(text);
    if (!this.ranges.some((r) => r.text === range.text)) this.ranges.push(range);
    return range;
  }

  unbanRange(text: string): boolean {
    const at = this.ranges.findIndex((r) => r.text === text);
    if (at === -1) return false;
    this.ranges.splice(at, 1);
    return true;
  }

  /** True when the address in a trusted proxy header (its last entry) falls in a banned range. */
  headerAddressBanned(header: string): boolean {
    return headerAddressInRanges(header, this.ranges);
  }

  /** True when the address (4 or 16 bytes, as uWS gives it) falls in a banned range. */
  addressBanned(address: ArrayBuffer): boolean {
    return addressInRanges(address, this.ranges);
  }
}
