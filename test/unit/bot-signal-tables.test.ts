// Proves the bot-signal tables one thread at a time: the early-buy buckets'
// bounds; the suspect users table counts each user's early buys (keeping
// the earliest) and too-fast answers and, at capacity - 1, capacity and
// capacity + 1 users, takes the first capacity and counts the rest as
// overflow while still updating users it holds; the address table keys a
// client address by its /24 or /64 (socket bytes, IPv4-mapped, or the last
// entry of a proxy header), names the block as a CIDR the ban list reads,
// counts each user once per block, lists a block at N distinct users and
// not at N - 1, and counts overflow when its blocks or its pairs are full;
// the report sums the threads' per-item counters and sorts the suspects.

import net from 'node:net';
import t from 'tap';
import { AddressUsers, blockKeyOf, blockText } from '../../engine/address-users';
import { parseRange, BanList } from '../../engine/ban-list';
import { BotSignals, EARLY_BUCKETS, earlyField, SIGNAL, SIGNAL_FIELDS } from '../../engine/bot-signals';
import { ITEMS_MAX } from '../../engine/constants';
import { SETTING_FIELDS } from '../../engine/item-book';
import { ItemCatalog } from '../../engine/item-catalog';
import { SignalReport } from '../../engine/signal-report';
import { SuspectUsers } from '../../engine/suspect-users';
import type { StoredItem } from '../../persistence/database';

t.test('an early buy falls in the bucket of at most 10 ms, 100 ms, 1 s, or more', async (t) => {
  const label = (ms: number): string => EARLY_BUCKETS.find((bucket) => bucket.field === earlyField(ms))!.label;
  t.same([1, 10, 11, 100, 101, 1000, 1001, 3_600_000].map(label),
    ['10ms', '10ms', '100ms', '100ms', '1s', '1s', 'more', 'more']);
});

t.test('the suspect users table holds capacity users and counts the rest as overflow', async (t) => {
  const capacity = 8;
  const table = new SuspectUsers(capacity);
  for (let user = 1; user < capacity; user++) table.noteEarlyBuy(user, 50, 1000 + user);
  t.same([table.size, table.overflow], [capacity - 1, 0], 'capacity - 1 users');
  table.noteEarlyBuy(capacity, 5, 2000);
  t.same([table.size, table.overflow], [capacity, 0], 'capacity users');
  table.noteEarlyBuy(capacity + 1, 5, 2000);
  table.noteTooFast(capacity + 1, 2000);
  t.same([table.size, table.overflow], [capacity, 2], 'capacity + 1: both signals of the new user overflow');
  table.noteEarlyBuy(1, 700, 3000);
  table.noteEarlyBuy(1, 20, 2500);
  table.noteTooFast(1, 2600);
  t.equal(table.overflow, 2, 'a user the full table holds is still counted');
  const users = table.read();
  t.equal(users.length, capacity);
  t.same(users[0], { user: 1, earlyBuys: 3, earliestMs: 700, tooFastAnswers: 1, lastAt: 3000 },
    'counts, the earliest buy and the last time seen');
  t.same(users.map((entry) => entry.user), Array.from({ length: capacity }, (_, i) => i + 1), 'in order first seen');
});

t.test('an address is keyed by its /24 or /64, named as a CIDR range the ban list reads', async (t) => {
  const key = new Float64Array(2);
  const textOf = (address: ArrayBuffer | string): string | null =>
    (blockKeyOf(address, key) ? blockText(key[0]!, key[1]!) : null);
  const v4 = Uint8Array.from([203, 0, 113, 77]).buffer;
  const mapped = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9]).buffer;
  t.equal(textOf(v4), '203.0.113.0/24', 'socket bytes');
  t.equal(textOf(mapped), '203.0.113.0/24', 'an IPv4-mapped IPv6 socket address is its IPv4 block');
  t.equal(textOf('198.51.100.1, 203.0.113.200'), '203.0.113.0/24', "a proxy header's last entry");
  t.equal(textOf('2001:db8:a:b:1:2:3:4'), '2001:db8:a:b::/64');
  t.equal(textOf(parseRange('2001:db8:0:ffff::1').bytes.slice().buffer), '2001:db8:0:ffff::/64');
  t.equal(textOf('garbage'), null, 'a header without an address has no block');
  t.equal(textOf(''), null);
  t.equal(textOf('0.1.2.3'), '0.1.2.0/24');
  t.equal(textOf('255.255.255.255'), '255.255.255.0/24');
  t.equal(textOf('::ffff:1.2.3.4'), '1.2.3.0/24', 'IPv4-mapped IPv6 text');
  for (const bad of ['01.2.3.4', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', ' . . . ', '1.2.3.4x']) {
    t.equal(textOf(bad), null, `${bad} is no address`);
  }
  for (const address of ['203.0.113.77', '2001:db8:a:b:1:2:3:4', '10.255.0.1']) {
    t.ok(blockKeyOf(address, key));
    const bans = new BanList();
    bans.banRange(blockText(key[0]!, key[1]!));
    t.ok(bans.headerAddressBanned(address), `banning the block of ${address} bans it`);
    t.equal(net.isIP(address) > 0, true);
  }
});

t.test('a block is listed at N distinct users, not at N - 1, each user counted once', async (t) => {
  const table = new AddressUsers(16, 64, 3);
  table.note('192.0.2.1', 1, 100);
  table.note('192.0.2.2', 2, 110);
  table.note('192.0.2.3', 2, 120);
  t.same([table.readSuspects(), table.suspects, table.usersAt('192.0.2.99')], [[], 0, 2], 'N - 1 users: not listed');
  table.note('192.0.2.4', 3, 130);
  t.same(table.readSuspects(), [{ address: '192.0.2.0/24', users: 3, lastAt: 130 }], 'N users: listed');
  table.note('192.0.2.5', 4, 125);
  t.same([table.suspects, table.usersAt('192.0.2.5')], [1, 4], 'past N the block is still one suspect');
  t.equal(table.readSuspects()[0]!.lastAt, 130, 'last seen is the latest time');
});

t.test('a full block table or pair table drops the sighting and counts it', async (t) => {
  const blocks = 4;
  const table = new AddressUsers(blocks, 6, 2);
  for (let i = 1; i < blocks; i++) table.note(`10.0.${i}.1`, 1, 1);
  t.same([table.size.blocks, table.overflow], [blocks - 1, 0], 'capacity - 1 blocks');
  table.note(`10.0.${blocks}.1`, 1, 1);
  t.same([table.size.blocks, table.overflow], [blocks, 0], 'capacity blocks');
  table.note('10.0.99.1', 1, 1);
  t.same([table.size.blocks, table.overflow], [blocks, 1], 'capacity + 1 blocks: one overflow');
  table.note('10.0.1.7', 2, 1);
  t.same([table.size.pairs, table.overflow, table.usersAt('10.0.1.1')], [blocks + 1, 1, 2],
    'a held block still counts a new user');
  table.note('10.0.1.8', 3, 1);
  t.equal(table.size.pairs, 6, 'the pair table is full');
  table.note('10.0.2.8', 3, 1);
  t.same([table.size.pairs, table.overflow, table.usersAt('10.0.2.1')], [6, 2, 1], 'a full pair table counts none');
  table.note('10.0.1.8', 3, 1);
  t.same([table.overflow, table.usersAt('10.0.1.1')], [2, 3], 'a pair already held is no overflow and no new user');
});

function storedItem(id: string, row: number): StoredItem {
  return {
    id, row, name: id, price: 100, stock: 5, perUserLimit: 1, startsAt: 0, endsAt: 1e15, mode: 'order',
    payWindowSec: 0, challenge: false, fairWindowMs: 0, paused: false,
  };
}

t.test('the report sums every thread per item and sorts the suspects', async (t) => {
  const catalog = new ItemCatalog([storedItem('a', 1), storedItem('b', 2)], 'secret', new Int32Array(ITEMS_MAX),
    new Float64Array(ITEMS_MAX * SETTING_FIELDS));
  const users = new SuspectUsers(16);
  const addresses = new AddressUsers(16, 64, 2);
  const threads = [0, 1].map(() => new Float64Array(ITEMS_MAX * SIGNAL_FIELDS));
  const [first, second] = threads.map((counts) => new BotSignals(counts, users, addresses));
  first!.earlyBuy(1, 7, 10_000, 10_000 - 5, '203.0.113.1');
  second!.earlyBuy(1, 8, 10_000, 10_000 - 5000, '203.0.113.2');
  second!.earlyBuy(1, 8, 10_000, 10_000 - 50, null);
  first!.tooFastAnswer(0, 9, 10_500);
  second!.tooFastAnswer(0, 9, 10_600);
  second!.earlyTicket(1);
  first!.earlyChallenge(0, 10, '198.51.100.1', 9_000);
  first!.seen('198.51.100.2', 11, 9_100);
  const report = new SignalReport(catalog, threads, users, addresses);
  t.same(report.item(1), { earlyBuys: { '10ms': 1, '100ms': 1, '1s': 0, more: 1 }, tooFastAnswers: 0,
    earlyTickets: 1, earlyChallenges: 0 }, 'item b, over both threads');
  t.equal(report.count(0, SIGNAL.tooFastAnswers), 2);
  const list = report.list(10);
  t.same(list.items.map((item) => item.id), ['b', 'a'], 'the item with more signals first');
  t.same(list.users.map((user) => [user.user, user.earlyBuys, user.earliestMs, user.tooFastAnswers]),
    [[8, 2, 5000, 0], [9, 0, 0, 2], [7, 1, 5, 0]], 'most signals first, then the earliest');
  t.same(list.addresses.map((entry) => [entry.address, entry.users]),
    [['203.0.113.0/24', 2], ['198.51.100.0/24', 2]], 'both blocks at N = 2, the latest seen first on a tie');
  t.same([report.list(1).users.length, report.list(1).usersListed], [1, 3]);
});
