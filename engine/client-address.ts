// Who the client is, by address: the socket's address, or the last entry of
// the trusted proxy's header when --trusted-proxy-header is set (and only
// then: a client could write any address into a header). HTTP requests and
// WebSocket upgrades resolve it with the same function, so that a ban, an
// exemption and a rate bucket mean the same client on both transports.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { addressInRanges, headerAddressInRanges, type AddressRange, type BanList } from './ban-list';
import { addressKey } from './rate-limiter';

export interface AddressPolicy {
  /** Lower-case header naming the client address behind a trusted proxy, or null. */
  trustedProxyHeader: string | null;
  /** Address ranges exempt from the per-address limits (--rate-exempt); empty for none. */
  rateExempt: AddressRange[];
  /** Users and address ranges that admins banned. */
  bans: BanList;
}

/** A client address as resolve() found it; callers keep one and reuse it, so a request costs no object. */
export class ClientAddress {
  /**
   * The socket's address (4 or 16 bytes, valid only during the uWS
   * callback: copy it to keep it) or the trusted proxy header's text.
   */
  address: ArrayBuffer | string = '';
  /** Key of the address's rate bucket; 0 when the address is exempt (no per-address limit applies). */
  rateKey = 0;
  exempt = false;
  banned = false;
}

/** Whether `address` (socket bytes, or proxy header text) is in a banned range. */
export function addressBanned(bans: BanList, address: ArrayBuffer | string): boolean {
  return typeof address === 'string' ? bans.headerAddressBanned(address) : bans.addressBanned(address);
}

function addressExempt(ranges: readonly AddressRange[], address: ArrayBuffer | string): boolean {
  return typeof address === 'string' ? headerAddressInRanges(address, ranges) : addressInRanges(address, ranges);
}

/** A number standing for the address, for its token bucket; never 0. */
function rateKeyOf(address: ArrayBuffer | string): number {
  if (typeof address !== 'string') return addressKey(address);
  // The last entry is the one the trusted proxy appended; hash its text.
  return addressKey(Buffer.from(address.slice(address.lastIndexOf(',') + 1).trim(), 'latin1'));
}

/** The client's address as the policy says to read it: the trusted proxy header, else the socket's bytes. */
export function clientAddressOf(policy: AddressPolicy, res: HttpResponse, req: HttpRequest): ArrayBuffer | string {
  const header = policy.trustedProxyHeader;
  return header === null ? res.getRemoteAddress() : req.getHeader(header);
}

/** Reads the client's address once and writes into `into` what the policy says of it. */
export function resolveClientAddress(policy: AddressPolicy, res: HttpResponse, req: HttpRequest,
  into: ClientAddress): ClientAddress {
  const address = clientAddressOf(policy, res, req);
  into.address = address;
  into.exempt = policy.rateExempt.length > 0 && addressExempt(policy.rateExempt, address);
  into.rateKey = into.exempt ? 0 : rateKeyOf(address);
  // Bans are asked about only when an admin set one.
  into.banned = policy.bans.ranges.length > 0 && addressBanned(policy.bans, address);
  return into;
}
