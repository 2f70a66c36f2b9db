// The HTTP threads' counters as one engine's (engine/thread-counters.ts):
// requests, responses and latency summed over the threads, the worst lag,
// shedding when any thread sheds, and each thread's refusals read by
// ItemCounters as one sum per item.

import t from 'tap';
import { REFUSAL, REFUSAL_FIELDS } from '../../engine/item-catalog';
import { ItemCounters } from '../../engine/item-counters';
import { COUNTER_FIELDS } from '../../engine/shard';
import { ROUTE_INDEX, OUTCOME_INDEX } from '../../engine/response-counts';
import { createThreadCounterViews, SummedCounters, threadCounters } from '../../engine/thread-counters';

t.test('two threads\' counters read as one engine\'s', async (t) => {
  const views = [createThreadCounterViews(), createThreadCounterViews()];
  const [a, b] = views.map((v) => threadCounters(v, 100));
  a!.counts.requests[ROUTE_INDEX.buy]! += 3;
  b!.counts.requests[ROUTE_INDEX.buy]! += 4;
  a!.counts.count(ROUTE_INDEX.buy, OUTCOME_INDEX.ok);
  b!.counts.count(ROUTE_INDEX.buy, OUTCOME_INDEX.ok);
  b!.counts.count(ROUTE_INDEX.buy, OUTCOME_INDEX.sold_out);
  a!.latency.record(0.05);
  b!.latency.record(3);
  b!.latency.record(2000);
  const summed = new SummedCounters(views);
  t.equal(summed.requests()[ROUTE_INDEX.buy], 7, 'requests summed');
  const responses = summed.responses();
  const width = responses.length / Object.keys(ROUTE_INDEX).length;
  t.equal(responses[ROUTE_INDEX.buy * width + OUTCOME_INDEX.ok], 2, 'responses summed by outcome');
  t.equal(responses[ROUTE_INDEX.buy * width + OUTCOME_INDEX.sold_out], 1);
  const latency = summed.latency();
  t.equal(latency.count, 3, 'latency counts summed');
  t.equal(latency.sumSeconds, (0.05 + 3 + 2000) / 1000);
  const cumulative = latency.cumulative();
  t.equal(cumulative[0], 1, 'the 0.1 ms bucket has the one fast buy');
  t.equal(cumulative[cumulative.length - 1], 3, '+Inf has them all');
  a!.lag.sample(0);
  b!.lag.sample(0);
  t.equal(summed.lagMs(), 0);
  t.notOk(summed.shedding());
  b!.lag.sample(500);
  t.ok(summed.lagMs() > 400, 'the worst thread\'s lag');
  t.ok(summed.shedding(), 'shedding when any thread sheds');
});

t.test('refusals of one item on two threads count once each in ItemCounters', async (t) => {
  const views = [createThreadCounterViews(), createThreadCounterViews()];
  views[0]!.refusals[REFUSAL_FIELDS + REFUSAL.paused] = 2;
  views[1]!.refusals[REFUSAL_FIELDS + REFUSAL.paused] = 5;
  const summed = new SummedCounters(views);
  const counts = new ItemCounters({ items: [{ mode: 'order' }, { mode: 'order' }] },
    new Float64Array(2 * COUNTER_FIELDS), summed.refusals);
  t.equal(counts.refused(1, 'paused'), 7);
  t.equal(counts.refused(0, 'paused'), 0, 'no other item');
});
