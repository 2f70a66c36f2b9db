// A worker thread for the cross-thread tests of the bot-signal tables
// (test/unit/bot-signal-tables-threads.test.ts), as shared-table-worker.ts
// is for the others: each worker builds the real table over the views it
// receives, waits at a barrier until every worker of the run is ready, runs
// its job and posts one number back.

import assert from 'node:assert/strict';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { AddressUsers, type AddressUserViews } from '../../engine/address-users';
import { SuspectUsers, type SuspectUserViews } from '../../engine/suspect-users';

/** Notes an early buy (`earlyMs` = thread + 1) and a too-fast answer of every user; answers the notes made. */
export interface UsersNoteJob {
  kind: 'users-note';
  views: SuspectUserViews;
  capacity: number;
  users: number[];
}

/** Notes every (addresses[i], users[i]) sighting; answers the sightings made. */
export interface AddressesNoteJob {
  kind: 'addresses-note';
  views: AddressUserViews;
  blocks: number;
  pairs: number;
  suspectUsers: number;
  addresses: string[];
  users: number[];
}

export type SignalJob = UsersNoteJob | AddressesNoteJob;

interface WorkerInput {
  job: SignalJob;
  thread: number;
  threads: number;
  barrier: Int32Array;
}

/** Runs `job` on `threads` worker threads at once; resolves with each thread's number. */
export async function runSignalWorkers(job: SignalJob, threads: number): Promise<number[]> {
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const file = path.join(__dirname, 'signal-table-worker.js');
  return Promise.all(Array.from({ length: threads }, (_, thread) => new Promise<number>((resolve, reject) => {
    const input: WorkerInput = { job, thread, threads, barrier };
    const worker = new Worker(file, { workerData: input });
    let result: number | null = null;
    worker.on('message', (value: number) => { result = value; });
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 && result !== null
      ? resolve(result)
      : reject(new Error(`worker ${thread} exited with ${code} and no result`))));
  })));
}

function arriveAndWait(barrier: Int32Array, threads: number): void {
  if (Atomics.add(barrier, 0, 1) + 1 === threads) {
    Atomics.notify(barrier, 0);
    return;
  }
  for (let arrived = Atomics.load(barrier, 0); arrived < threads; arrived = Atomics.load(barrier, 0)) {
    Atomics.wait(barrier, 0, arrived);
  }
}

function usersNote(job: UsersNoteJob, thread: number): number {
  const table = new SuspectUsers(job.capacity, job.views);
  for (const user of job.users) {
    table.noteEarlyBuy(user, thread + 1, 1000 + thread);
    table.noteTooFast(user, 1000 + thread);
  }
  return job.users.length * 2;
}

function addressesNote(job: AddressesNoteJob): number {
  const table = new AddressUsers(job.blocks, job.pairs, job.suspectUsers, job.views);
  for (let i = 0; i < job.users.length; i++) table.note(job.addresses[i]!, job.users[i]!, 1000 + i);
  return job.users.length;
}

function main(): void {
  assert.ok(parentPort);
  const { job, thread, threads, barrier } = workerData as WorkerInput;
  arriveAndWait(barrier, threads);
  parentPort.postMessage(job.kind === 'users-note' ? usersNote(job, thread) : addressesNote(job));
}

// Imported by the tests for runSignalWorkers() and the job types; runs only as a worker.
if (!isMainThread) main();
