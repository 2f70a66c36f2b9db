// Proves the bot-signal tables stay exact when HTTP threads share them
// (engine/suspect-users.ts, engine/address-users.ts over
// SharedArrayBuffers): four real worker threads
// (test/helpers/signal-table-worker.ts), released together by a barrier,
// note the same users and the same (address, user) sightings at once. Every
// user must be listed once with every thread's signals; when the users
// outnumber the table, exactly capacity are listed, each with all its
// signals, and every other signal is counted as overflow; each block must
// count each of its users once, and be a suspect exactly when it reaches N.

import t from 'tap';
import { AddressUsers, createAddressUserViews } from '../../engine/address-users';
import { createSuspectUserViews, SuspectUsers } from '../../engine/suspect-users';
import { runSignalWorkers } from '../helpers/signal-table-worker';

const THREADS = 4;
const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

t.test('4 threads noting the same 5,000 users list each once with all 4 threads\' signals', async (t) => {
  const capacity = 8192;
  const views = createSuspectUserViews(capacity);
  // Small ids and ids near 2^53, so both halves of the hash are exercised.
  const users = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? 1 + i : Number.MAX_SAFE_INTEGER - i));
  const notes = await runSignalWorkers({ kind: 'users-note', views, capacity, users }, THREADS);
  t.equal(sum(notes), THREADS * 2 * users.length);
  const table = new SuspectUsers(capacity, views);
  const listed = table.read();
  t.same([table.size, table.overflow, listed.length], [users.length, 0, users.length]);
  t.same(new Set(listed.map((entry) => entry.user)), new Set(users), 'each user once');
  t.ok(listed.every((entry) => entry.earlyBuys === THREADS && entry.tooFastAnswers === THREADS
    && entry.earliestMs === THREADS && entry.lastAt === 1000 + THREADS - 1), 'every thread\'s signals kept');
});

t.test('when 2,000 users race for a table of 1,000, exactly 1,000 are listed whole and the rest overflow',
  async (t) => {
  const capacity = 1000;
  const views = createSuspectUserViews(capacity);
  const users = Array.from({ length: 2 * capacity }, (_, i) => 7 + i * 13);
  await runSignalWorkers({ kind: 'users-note', views, capacity, users }, THREADS);
  const table = new SuspectUsers(capacity, views);
  const listed = table.read();
  t.equal(listed.length, capacity);
  t.ok(listed.every((entry) => entry.earlyBuys === THREADS && entry.tooFastAnswers === THREADS),
    'a listed user has every signal: once in, it is never refused');
  t.equal(table.overflow, (users.length - capacity) * THREADS * 2, 'every signal of the others is overflow');
});

t.test('4 threads noting the same sightings count each block\'s users once; N users make a suspect', async (t) => {
  const n = 100;
  const addresses: string[] = [];
  const users: number[] = [];
  // 30 blocks of N users and one of N - 1, each user seen at two addresses of its block.
  for (let block = 0; block < 31; block++) {
    for (let i = 0; i < (block === 30 ? n - 1 : n); i++) {
      const user = 1 + block * 1000 + i;
      addresses.push(`10.${block}.7.${i}`, `10.${block}.7.${i + 100}`);
      users.push(user, user);
    }
  }
  const views = createAddressUserViews(64, 8192);
  await runSignalWorkers({ kind: 'addresses-note', views, blocks: 64, pairs: 8192, suspectUsers: n, addresses, users },
    THREADS);
  const table = new AddressUsers(64, 8192, n, views);
  t.same([table.size.blocks, table.size.pairs, table.overflow], [31, 30 * n + n - 1, 0]);
  t.equal(table.suspects, 30, 'counted once per block, on every thread');
  const suspects = table.readSuspects();
  t.equal(suspects.length, 30);
  t.ok(suspects.every((entry) => entry.users === n), 'each block counts its users once');
  t.notOk(suspects.some((entry) => entry.address === '10.30.7.0/24'), 'N - 1 users: no suspect');
  t.equal(table.usersAt('10.30.7.1'), n - 1);
});
