// Proves that a challenge is used once when several threads share the used
// table (engine/challenge.ts over SharedArrayBuffers): the test thread
// issues 5,000 challenges, and four real worker threads
// (test/helpers/shared-table-worker.ts), released together by a barrier,
// each answer all of them correctly in the same order, so the four race for
// every challenge. Each must be accepted exactly once in total, and the
// table the threads share must refuse it afterwards on the test's thread.

import t from 'tap';
import { challengeAnswer, Challenges, challengeSecretOf, createUsedChallengeViews } from '../../engine/challenge';
import { runWorkers } from '../helpers/shared-table-worker';

const THREADS = 4;
const COUNT = 5_000;
const THINK_MS = 1000;
const LIFETIME_MS = 60_000;
const secret = challengeSecretOf('ticket-secret-for-tests-0123456789abcdef');

t.test('a challenge answered on 4 threads at once is accepted exactly once', async (t) => {
  const views = createUsedChallengeViews();
  const local = new Challenges(secret, THINK_MS, LIFETIME_MS, views);
  const issuedAt = 1_800_000_000_000;
  const challenges = Array.from({ length: COUNT }, () => local.issue('hat', 7, issuedAt).challenge);
  const answers = challenges.map((challenge) => {
    const [issued, nonce] = challenge.split('.');
    return challengeAnswer(secret, 'hat', 7, Number(issued), nonce!);
  });
  const wins = new Int32Array(new SharedArrayBuffer(COUNT * Int32Array.BYTES_PER_ELEMENT));
  const accepted = await runWorkers({
    kind: 'challenge-check', views, secret: Uint8Array.from(secret), minThinkMs: THINK_MS, lifetimeMs: LIFETIME_MS,
    item: 'hat', user: 7, challenges, answers, nowMs: issuedAt + 2000, wins,
  }, THREADS);
  t.equal(accepted.reduce((total, count) => total + count, 0), COUNT, 'acceptances summed over the threads');
  t.equal(wins.filter((count) => count !== 1).length, 0, 'every challenge accepted by exactly one thread');
  t.equal(local.check('hat', 7, challenges[0], answers[0], issuedAt + 3000), 'challenge_failed',
    'used up for this thread too');
});
