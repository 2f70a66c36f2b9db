// A worker thread for the cross-thread tests of the shared tables
// (test/unit/atomic-lock.test.ts, in-flight-users-threads.test.ts,
// rate-limiter-threads.test.ts, challenge-threads.test.ts,
// connection-counts.test.ts, idempotency-keys-threads.test.ts). Each worker builds the real table over the
// typed arrays it receives, waits at a barrier until every worker of the run
// is ready (so they hammer the table at the same time, not one after the
// other), runs its job and posts one number back (worker-run.ts). runWorkers() starts such
// a run from the test's thread.

import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { lock, unlock } from '../../engine/atomic-lock';
import { Challenges, type UsedChallengeViews } from '../../engine/challenge';
import { ConnectionCounts } from '../../engine/connection-counts';
import { OUTCOME } from '../../engine/error-catalog';
import { IdempotencyKeys, KEY_STATE, type IdempotencyViews } from '../../engine/idempotency-keys';
import { InFlightUsers, type InFlightViews } from '../../engine/in-flight-users';
import { RATE_SLOTS, TokenBucketTable, type BucketViews } from '../../engine/rate-limiter';
import { runWorkerFile, serveWorkerJob } from './worker-run';

/** Adds 1 to a plain (not atomic) float64 `times` times, each under the lock word; answers `times`. */
export interface LockCountJob {
  kind: 'lock-count';
  words: Int32Array;
  counter: Float64Array;
  times: number;
}

/** Every thread adds every id; each success counts in wins[i] and names its thread in owners[i]. */
export interface InFlightAddJob {
  kind: 'in-flight-add';
  views: InFlightViews;
  bound: number;
  ids: Float64Array;
  wins: Int32Array;
  owners: Int32Array;
}

/** Each thread removes the ids it won; answers how many it removed that were missing or stayed. */
export interface InFlightRemoveJob {
  kind: 'in-flight-remove';
  views: InFlightViews;
  bound: number;
  ids: Float64Array;
  owners: Int32Array;
}

/**
 * Thread n cycles ids firstId + n * count onwards (`count` of them) through
 * the set, `held` at a time, while the others do the same; answers how many
 * times the set lost one of its ids, kept one it removed, or refused a new one.
 */
export interface InFlightChurnJob {
  kind: 'in-flight-churn';
  views: InFlightViews;
  bound: number;
  firstId: number;
  count: number;
  held: number;
}

/** Opens `attempts` connections from `rateKey` against shared counts, holding each; answers how many it kept. */
export interface ConnectionsOpenJob {
  kind: 'connections-open';
  view: Int32Array;
  connectionsMax: number;
  perAddressMax: number;
  attempts: number;
  rateKey: number;
}

/**
 * Take number i is for keys[i % keys.length] at t0Ms + floor(i / (takesPerMs
 * * keys.length)); each allowed take counts in allowed[key's index].
 */
export interface BucketTakeJob {
  kind: 'bucket-take';
  views: BucketViews;
  ratePerSecond: number;
  burst: number;
  keys: number[];
  takes: number;
  t0Ms: number;
  takesPerMs: number;
  allowed: Int32Array;
}

/** Checks every challenge at nowMs; each 'ok' counts in wins[i]. */
export interface ChallengeCheckJob {
  kind: 'challenge-check';
  views: UsedChallengeViews;
  secret: Uint8Array;
  minThinkMs: number;
  lifetimeMs: number;
  item: string;
  user: number;
  challenges: string[];
  answers: string[];
  nowMs: number;
  wins: Int32Array;
}

/**
 * Every thread begins every (users[i], keys[i]) on item 0 and, when it began
 * one, finishes it won with order id i + 1 at once; begun[i] counts the
 * threads that began it. Answers how many times a thread saw a state it
 * should not: a kept answer with another order id, another item, or a full
 * table.
 */
export interface KeysBeginJob {
  kind: 'keys-begin';
  views: IdempotencyViews;
  capacity: number;
  users: Float64Array;
  keys: Float64Array;
  begun: Int32Array;
}

/**
 * Thread n cycles keys firstKey + n * count onwards (`count` of them, user
 * n + 1) through the table, `held` at a time in flight, each given up
 * (finished overloaded, so removed) while the others do the same; answers
 * how many times a key in flight was not found, or a removed one was.
 */
export interface KeysChurnJob {
  kind: 'keys-churn';
  views: IdempotencyViews;
  capacity: number;
  firstKey: number;
  count: number;
  held: number;
}

export type TableJob = LockCountJob | InFlightAddJob | InFlightRemoveJob | InFlightChurnJob | BucketTakeJob
  | ChallengeCheckJob | ConnectionsOpenJob | KeysBeginJob | KeysChurnJob;


/** Runs `job` on `threads` worker threads at once; resolves with each thread's number. */
export function runWorkers(job: TableJob, threads: number): Promise<number[]> {
  return runWorkerFile(path.join(__dirname, 'shared-table-worker.js'), job, threads);
}


function lockCount(job: LockCountJob): number {
  for (let i = 0; i < job.times; i++) {
    lock(job.words, 0);
    job.counter[0] = job.counter[0]! + 1;
    unlock(job.words, 0);
  }
  return job.times;
}

function inFlightAdd(job: InFlightAddJob, thread: number): number {
  const set = new InFlightUsers(job.bound, job.views);
  let added = 0;
  for (let i = 0; i < job.ids.length; i++) {
    if (!set.add(job.ids[i]!)) continue;
    Atomics.add(job.wins, i, 1);
    Atomics.store(job.owners, i, thread);
    added++;
  }
  return added;
}

function inFlightRemove(job: InFlightRemoveJob, thread: number): number {
  const set = new InFlightUsers(job.bound, job.views);
  let wrong = 0;
  for (let i = 0; i < job.ids.length; i++) {
    if (Atomics.load(job.owners, i) !== thread) continue;
    if (!set.has(job.ids[i]!)) wrong++;
    set.remove(job.ids[i]!);
    if (set.has(job.ids[i]!)) wrong++;
  }
  return wrong;
}

function inFlightChurn(job: InFlightChurnJob, thread: number): number {
  const set = new InFlightUsers(job.bound, job.views);
  const firstId = job.firstId + thread * job.count;
  let wrong = 0;
  for (let i = 0; i < job.count + job.held; i++) {
    if (i < job.count && !set.add(firstId + i)) wrong++;
    const oldest = i - job.held;
    if (oldest < 0) continue;
    // The oldest and a middle id, both held through many of the others' backward shifts.
    const middle = oldest + (job.held >> 1);
    if (middle < job.count && !set.has(firstId + middle)) wrong++;
    if (!set.has(firstId + oldest)) wrong++;
    set.remove(firstId + oldest);
    if (set.has(firstId + oldest)) wrong++;
  }
  return wrong;
}

function bucketTake(job: BucketTakeJob): number {
  const table = new TokenBucketTable(job.ratePerSecond, job.burst, RATE_SLOTS, job.views);
  const keyCount = job.keys.length;
  let allowed = 0;
  for (let i = 0; i < job.takes; i++) {
    const nowMs = job.t0Ms + Math.floor(i / (job.takesPerMs * keyCount));
    if (!table.take(job.keys[i % keyCount]!, nowMs)) continue;
    Atomics.add(job.allowed, i % keyCount, 1);
    allowed++;
  }
  return allowed;
}

function challengeCheck(job: ChallengeCheckJob): number {
  const challenges = new Challenges(Buffer.from(job.secret), job.minThinkMs, job.lifetimeMs, job.views);
  let accepted = 0;
  for (let i = 0; i < job.challenges.length; i++) {
    if (challenges.check(job.item, job.user, job.challenges[i], job.answers[i], job.nowMs) !== 'ok') continue;
    Atomics.add(job.wins, i, 1);
    accepted++;
  }
  return accepted;
}

function connectionsOpen(job: ConnectionsOpenJob): number {
  const counts = new ConnectionCounts(job.view, job.connectionsMax, job.perAddressMax);
  let kept = 0;
  for (let i = 0; i < job.attempts; i++) if (counts.open(job.rateKey) >= -1) kept++;
  return kept;
}

function keysBegin(job: KeysBeginJob): number {
  const table = new IdempotencyKeys(job.capacity, job.views);
  const out = { outcome: 0, orderId: 0, payBy: 0 };
  let wrong = 0;
  for (let i = 0; i < job.keys.length; i++) {
    const state = table.begin(job.users[i]!, job.keys[i]!, 0, out);
    if (state === KEY_STATE.begun) {
      Atomics.add(job.begun, i, 1);
      table.finish(job.users[i]!, job.keys[i]!, OUTCOME.ok, i + 1, 0);
    } else if (state === KEY_STATE.done ? out.orderId !== i + 1 : state !== KEY_STATE.inFlight) {
      wrong++;
    }
  }
  return wrong;
}

function keysChurn(job: KeysChurnJob, thread: number): number {
  const table = new IdempotencyKeys(job.capacity, job.views);
  const user = thread + 1;
  const firstKey = job.firstKey + thread * job.count;
  const out = { outcome: 0, orderId: 0, payBy: 0 };
  let wrong = 0;
  for (let i = 0; i < job.count + job.held; i++) {
    if (i < job.count && table.begin(user, firstKey + i, 0, out) !== KEY_STATE.begun) wrong++;
    const oldest = i - job.held;
    if (oldest < 0) continue;
    // The oldest and a middle key, both held through many of the others' backward shifts.
    const middle = oldest + (job.held >> 1);
    if (middle < job.count && table.look(user, firstKey + middle, 0, out) !== KEY_STATE.inFlight) wrong++;
    if (table.look(user, firstKey + oldest, 0, out) !== KEY_STATE.inFlight) wrong++;
    table.finish(user, firstKey + oldest, OUTCOME.overloaded, 0, 0);
    if (table.look(user, firstKey + oldest, 0, out) !== KEY_STATE.absent) wrong++;
  }
  return wrong;
}

function runJob(job: TableJob, thread: number): number {
  switch (job.kind) {
    case 'lock-count': return lockCount(job);
    case 'in-flight-add': return inFlightAdd(job, thread);
    case 'in-flight-remove': return inFlightRemove(job, thread);
    case 'in-flight-churn': return inFlightChurn(job, thread);
    case 'bucket-take': return bucketTake(job);
    case 'challenge-check': return challengeCheck(job);
    case 'connections-open': return connectionsOpen(job);
    case 'keys-begin': return keysBegin(job);
    case 'keys-churn': return keysChurn(job, thread);
  }
}

function main(): void {
  serveWorkerJob<TableJob>(runJob);
}

// Imported by the tests for runWorkers() and the job types; runs only as a worker.
if (!isMainThread) main();
