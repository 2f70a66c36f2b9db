// Proves CoalescedRuns, which schedules snapshots: the first request starts
// a run at once; requests during a run share one queued run that starts only
// when the current one has ended (never two at once, never more than one
// waiting), so every caller's result comes from a run begun after its
// request; a failed run does not stop the queued one; close() refuses new
// and queued runs and waits for the one going.

import t from 'tap';
import { CoalescedRuns } from '../../engine/coalesced-runs';

/** A task whose runs the test ends by hand, recording when each began and how many overlap. */
function controlledTask() {
  const runs: { started: number; finish: (value: number) => void; fail: (error: Error) => void }[] = [];
  let going = 0;
  let mostAtOnce = 0;
  const task = (): Promise<number> => new Promise<number>((resolve, reject) => {
    going++;
    mostAtOnce = Math.max(mostAtOnce, going);
    const index = runs.length;
    const end = () => { going--; };
    runs.push({
      started: index, finish: (value) => { end(); resolve(value); }, fail: (error) => { end(); reject(error); },
    });
  });
  return { task, runs, mostAtOnce: () => mostAtOnce };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('requests during a run share one run begun after the current one ends', async (t) => {
  const { task, runs, mostAtOnce } = controlledTask();
  const scheduler = new CoalescedRuns(task);
  const first = scheduler.request();
  t.equal(runs.length, 1, 'the first request starts a run at once');
  const second = scheduler.request();
  const third = scheduler.request();
  t.equal(second, third, 'requests during a run share the queued run');
  await tick();
  t.equal(runs.length, 1, 'which does not start while the first is going');
  runs[0]!.finish(1);
  t.equal(await first, 1);
  await tick();
  t.equal(runs.length, 2, 'it starts once the first has ended');
  const fourth = scheduler.request();
  t.not(fourth, second, 'a request during the second run waits for a third, begun after it');
  runs[1]!.finish(2);
  t.equal(await second, 2);
  await tick();
  runs[2]!.finish(3);
  t.equal(await fourth, 3);
  t.equal(mostAtOnce(), 1, 'never two runs at once');
  const fifth = scheduler.request();
  t.equal(runs.length, 4, 'with nothing going, a request starts a run at once again');
  runs[3]!.finish(4);
  t.equal(await fifth, 4);
});

t.test('a failed run fails its callers only; the queued run still happens', async (t) => {
  const { task, runs } = controlledTask();
  const scheduler = new CoalescedRuns(task);
  const first = scheduler.request();
  const second = scheduler.request();
  runs[0]!.fail(new Error('disk full'));
  await t.rejects(first, /disk full/);
  await tick();
  t.equal(runs.length, 2);
  runs[1]!.finish(7);
  t.equal(await second, 7);
});

t.test('close refuses new and queued runs and waits for the one going', async (t) => {
  const { task, runs } = controlledTask();
  const scheduler = new CoalescedRuns(task);
  const first = scheduler.request();
  const queued = scheduler.request();
  let closed = false;
  const closing = scheduler.close().then(() => { closed = true; });
  await tick();
  t.notOk(closed, 'close waits while a run is going');
  await t.rejects(scheduler.request(), /closed/, 'a new request is refused');
  runs[0]!.finish(1);
  t.equal(await first, 1, 'the run going completes');
  await t.rejects(queued, /closed/, 'the queued run is refused, not started');
  await closing;
  t.ok(closed);
  t.equal(runs.length, 1, 'no second run began');
});
