// The harness of the cross-thread table tests: a run starts one worker
// thread per `thread` on the same job file, every worker waits at a
// barrier until all of the run are ready (so they hammer the table at the
// same time, not one after the other), runs its job and posts one number
// back. shared-table-worker.ts and signal-table-worker.ts are such files.

import assert from 'node:assert/strict';
import { parentPort, Worker, workerData } from 'node:worker_threads';

interface WorkerInput<J> {
  job: J;
  thread: number;
  threads: number;
  barrier: Int32Array;
}

/** Runs `job` from the worker file `file` on `threads` threads at once; resolves with each thread's number. */
export async function runWorkerFile<J>(file: string, job: J, threads: number): Promise<number[]> {
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  return Promise.all(Array.from({ length: threads }, (_, thread) => new Promise<number>((resolve, reject) => {
    const input: WorkerInput<J> = { job, thread, threads, barrier };
    const worker = new Worker(file, { workerData: input });
    let result: number | null = null;
    worker.on('message', (value: number) => { result = value; });
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 && result !== null
      ? resolve(result)
      : reject(new Error(`worker ${thread} exited with ${code} and no result`))));
  })));
}

/** In a worker of such a run: waits for the others, runs the job with `run` and posts its number. */
export function serveWorkerJob<J>(run: (job: J, thread: number) => number): void {
  assert.ok(parentPort);
  const { job, thread, threads, barrier } = workerData as WorkerInput<J>;
  arriveAndWait(barrier, threads);
  parentPort.postMessage(run(job, thread));
}

/** Returns once every thread of the run has arrived. */
function arriveAndWait(barrier: Int32Array, threads: number): void {
  if (Atomics.add(barrier, 0, 1) + 1 === threads) {
    Atomics.notify(barrier, 0);
    return;
  }
  for (let arrived = Atomics.load(barrier, 0); arrived < threads; arrived = Atomics.load(barrier, 0)) {
    Atomics.wait(barrier, 0, arrived);
  }
}
