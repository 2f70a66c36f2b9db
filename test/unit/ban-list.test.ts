// Proves the address-range matching of bans: IPv4 and IPv6 CIDR ranges at
// their prefix boundaries, single addresses, IPv4-mapped IPv6 addresses (as
// a dual-stack socket reports IPv4 clients), and refusal of bad ranges.

import t from 'tap';
import { BanError, BanList } from '../../engine/ban-list';

const v4 = (...bytes: number[]) => Uint8Array.from(bytes).buffer;
const mapped = (...bytes: number[]) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes]).buffer;

t.test('IPv4 ranges match at their prefix boundary', async (t) => {
  const bans = new BanList();
  bans.banRange('10.1.2.0/23');
  t.ok(bans.addressBanned(v4(10, 1, 2, 0)));
  t.ok(bans.addressBanned(v4(10, 1, 3, 255)), 'last address of the /23');
  t.notOk(bans.addressBanned(v4(10, 1, 4, 0)), 'first address after it');
  t.notOk(bans.addressBanned(v4(10, 1, 1, 255)), 'last address before it');
  t.ok(bans.addressBanned(mapped(10, 1, 2, 9)), 'an IPv4-mapped IPv6 address is matched as IPv4');
});

t.test('single addresses, IPv6 ranges and unbanning', async (t) => {
  const bans = new BanList();
  bans.banRange('192.0.2.7');
  t.ok(bans.addressBanned(v4(192, 0, 2, 7)));
  t.notOk(bans.addressBanned(v4(192, 0, 2, 8)));
  bans.banRange('2001:db8::/32');
  const inside = new Uint8Array(16);
  inside.set([0x20, 0x01, 0x0d, 0xb8, 0, 1]);
  t.ok(bans.addressBanned(inside.buffer));
  inside[3] = 0xb9;
  t.notOk(bans.addressBanned(inside.buffer), 'one bit past the /32');
  t.ok(bans.unbanRange('192.0.2.7'));
  t.notOk(bans.addressBanned(v4(192, 0, 2, 7)), 'lifted');
  t.notOk(bans.unbanRange('192.0.2.7'), 'lifting twice says so');
});

t.test('bad ranges are refused', async (t) => {
  const bans = new BanList();
  for (const bad of ['300.0.0.1', '10.0.0.0/33', '10.0.0.0/x', 'example.com', '10.0.0.0/8/8', '::1/129']) {
    t.throws(() => bans.banRange(bad), BanError, bad);
  }
});
