// The WebSocket connection caps hold over every HTTP thread
// (engine/connection-counts.ts): the total and the per-address count, with a
// place taken and given back exactly; and four real threads racing for the
// last places never keep more than the cap between them.

import t from 'tap';
import { ConnectionCounts, createConnectionCountView, OPEN_REFUSED } from '../../engine/connection-counts';
import { runWorkers } from '../helpers/shared-table-worker';

t.test('the total cap, then the per-address cap; exempt clients (key 0) only count in the total', async (t) => {
  const counts = new ConnectionCounts(createConnectionCountView(), 5, 2);
  const a1 = counts.open(11);
  const a2 = counts.open(11);
  t.ok(a1 >= 1 && a2 === a1, 'two from one address share its slot');
  t.equal(counts.open(11), OPEN_REFUSED.address, 'a third from that address is refused');
  t.equal(counts.total, 2, 'a refused open gives its place back');
  t.equal(counts.open(0), -1, 'an exempt client takes no address slot');
  t.ok(counts.open(12) >= 1);
  t.ok(counts.open(13) >= 1);
  t.equal(counts.total, 5);
  t.equal(counts.open(14), OPEN_REFUSED.total, 'the sixth is refused by the total');
  t.equal(counts.total, 5);
  counts.close(a1);
  t.equal(counts.total, 4, 'a close gives its place back');
  t.equal(counts.open(11), a1, 'and its address slot');
  t.equal(counts.open(11), OPEN_REFUSED.total, 'the total first');
});

t.test('no per-address cap (0): only the total counts', async (t) => {
  const counts = new ConnectionCounts(createConnectionCountView(), 3, 0);
  t.same([counts.open(7), counts.open(7), counts.open(7)], [-1, -1, -1]);
  t.equal(counts.open(7), OPEN_REFUSED.total);
});

t.test('4 threads racing for 1,000 places keep exactly 1,000, and 100 per address', async (t) => {
  const view = createConnectionCountView();
  const kept = await runWorkers({ kind: 'connections-open', view, connectionsMax: 1000, perAddressMax: 0,
    attempts: 2000, rateKey: 0 }, 4);
  t.equal(kept.reduce((a, b) => a + b, 0), 1000, 'the cap held across threads');
  t.equal(new ConnectionCounts(view, 1000, 0).total, 1000);
  const perAddress = createConnectionCountView();
  const keptByOne = await runWorkers({ kind: 'connections-open', view: perAddress, connectionsMax: 100_000,
    perAddressMax: 100, attempts: 500, rateKey: 42 }, 4);
  t.equal(keptByOne.reduce((a, b) => a + b, 0), 100, 'one address kept its 100 over the threads');
});
