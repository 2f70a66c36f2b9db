// A worker thread for the cross-thread tests of the bot-signal tables
// (test/unit/bot-signal-tables-threads.test.ts), as shared-table-worker.ts
// is for the others: each worker builds the real table over the views it
// receives, waits at a barrier until every worker of the run is ready, runs
// its job and posts one number back.

import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { AddressUsers, type AddressUserViews } from '../../engine/address-users';
import { SuspectUsers, type SuspectUserViews } from '../../engine/suspect-users';
import { runWorkerFile, serveWorkerJob } from './worker-run';

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


/** Runs `job` on `threads` worker threads at once; resolves with each thread's number. */
export function runSignalWorkers(job: SignalJob, threads: number): Promise<number[]> {
  return runWorkerFile(path.join(__dirname, 'signal-table-worker.js'), job, threads);
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
  serveWorkerJob<SignalJob>((job, thread) => (job.kind === 'users-note' ? usersNote(job, thread) : addressesNote(job)));
}

// Imported by the tests for runSignalWorkers() and the job types; runs only as a worker.
if (!isMainThread) main();
