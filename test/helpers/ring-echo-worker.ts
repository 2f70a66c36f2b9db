// A worker thread for test/unit/shard-ring.test.ts: it consumes requests
// through the real ring module and answers each one with its fields moved
// into answer fields (shard-ring.ts draws both slots), in batches published
// at once as the shard worker does, until it reads ECHO_STOP_OP.

import assert from 'node:assert/strict';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Outcome } from '../../engine/error-catalog';
import { emptyOrderView } from '../../engine/shard';
import { emptyRequest, HEAD, readRequest, Ring, writeAnswer, type RingViews } from '../../engine/shard-ring';

export const ECHO_STOP_OP = 999;

function main(): void {
  assert.ok(parentPort);
  const { requests: requestViews, answers: answerViews } = workerData as { requests: RingViews; answers: RingViews };
  const requests = new Ring(requestViews);
  const answers = new Ring(answerViews);
  const request = emptyRequest();
  const view = emptyOrderView();
  for (;;) {
    let staged = 0;
    while (requests.available() > 0) {
      readRequest(requests, request);
      if (request.op === ECHO_STOP_OP) return;
      view.orderId = request.argument;
      view.userId = request.user;
      view.state = request.item;
      view.createdAt = request.nowMs;
      view.payBy = -request.nowMs;
      writeAnswer(answers, staged++, request.token, request.op as Outcome, view);
    }
    if (staged > 0) {
      answers.publish(staged);
      Atomics.notify(answers.header, HEAD);
    } else requests.waitForEntries(50);
  }
}

// Imported by the test for ECHO_STOP_OP; runs only as a worker.
if (!isMainThread) main();
