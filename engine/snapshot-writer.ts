// The snapshot-writer thread: one per snapshot, started with the copied books
// (transferred, not copied again). It formats and writes the file, answers
// with its path, and exits. Keeping this off the HTTP thread is what lets
// sales go on while a snapshot of millions of orders is written.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { writeSnapshotFile, type SnapshotJob } from './snapshot';

function main(): void {
  try {
    parentPort!.postMessage({ path: writeSnapshotFile(workerData as SnapshotJob) });
  } catch (error) {
    parentPort!.postMessage({ error: (error as Error).message });
  }
}

if (!isMainThread) main();
