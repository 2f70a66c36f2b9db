// Proves that the in-flight set stays exact when several threads share it
// (engine/in-flight-users.ts over SharedArrayBuffers): four real worker
// threads (test/helpers/shared-table-worker.ts), released together by a
// barrier, each add the same 20,000 user ids; every id must be admitted
// exactly once in total, all must then be in the set, and removing them on
// the threads that won them must leave it empty. Then four threads each
// cycle their own ids through a half-full table at once, so that backward
// shifts on one thread move entries another thread is about to look up: no
// id may be lost, kept after removal, or refused.

import t from 'tap';
import { createInFlightViews, InFlightUsers } from '../../engine/in-flight-users';
import { runWorkers } from '../helpers/shared-table-worker';

const THREADS = 4;
const IDS = 20_000;

const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
const sharedInts = (length: number): Int32Array =>
  new Int32Array(new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT));

t.test('4 threads adding the same 20,000 ids admit each once in total; removing them empties the set',
  async (t) => {
  const views = createInFlightViews(IDS);
  // Small ids and ids near 2^53, so both halves of the hash and of the float are exercised.
  const ids = Float64Array.from({ length: IDS }, (_, i) => (i % 2 === 0 ? 1 + i : Number.MAX_SAFE_INTEGER - i));
  const wins = sharedInts(IDS);
  const owners = sharedInts(IDS);
  const added = await runWorkers({ kind: 'in-flight-add', views, bound: IDS, ids, wins, owners }, THREADS);
  t.equal(sum(added), IDS, 'admissions summed over the threads');
  t.equal(wins.filter((count) => count !== 1).length, 0, 'every id admitted by exactly one thread');
  const set = new InFlightUsers(IDS, views);
  t.equal(set.size, IDS);
  t.equal(ids.filter((id) => !set.has(id)).length, 0, 'every id is in the set');
  t.notOk(set.add(ids[0]!), 'an id in flight on other threads is not added again here');
  const wrong = await runWorkers({ kind: 'in-flight-remove', views, bound: IDS, ids, owners }, THREADS);
  t.same(wrong, [0, 0, 0, 0], 'each id was in the set until its winner removed it, and gone after');
  t.equal(set.size, 0);
  t.equal(views.keys.filter((key) => key !== 0).length, 0, 'no slot left occupied');
});

t.test('ids cycled through a half-full set by 4 threads at once are never lost, kept, or refused', async (t) => {
  const held = 500;
  const count = 20_000;
  const bound = THREADS * (held + 1);
  const views = createInFlightViews(bound);
  const wrong = await runWorkers({ kind: 'in-flight-churn', views, bound, firstId: 2 ** 40, count, held }, THREADS);
  t.same(wrong, [0, 0, 0, 0]);
  t.equal(new InFlightUsers(bound, views).size, 0);
  t.equal(views.keys.filter((key) => key !== 0).length, 0, 'no slot left occupied');
});
