// Challenges: right answer after the think time wins once; too quick,
// stale, wrong, reused, or moved to another user or item fails; the SVG
// draws the digits as paths and never holds them as text.

import t from 'tap';
import { challengeAnswer, Challenges, challengeSecretOf, drawDigits } from '../../engine/challenge';

const secret = challengeSecretOf('ticket-secret-for-tests-0123456789abcdef');
const answerOf = (item: string, user: number, challenge: string): string => {
  const [issued, nonce] = challenge.split('.');
  return challengeAnswer(secret, item, user, Number(issued), nonce!);
};

t.test('the answer works once, only after the think time and before the lifetime', async (t) => {
  const challenges = new Challenges(secret, 1000, 60_000);
  const issuedAt = 1_800_000_000_000;
  const { challenge, question } = challenges.issue('hat', 7, issuedAt);
  const answer = answerOf('hat', 7, challenge);
  t.match(answer, /^[0-9]{5}$/);
  t.equal(challenges.check('hat', 7, challenge, answer, issuedAt + 999), 'challenge_failed', 'too quick for a human');
  t.equal(challenges.check('hat', 7, challenge, '00000' === answer ? '11111' : '00000', issuedAt + 2000),
    'challenge_failed', 'wrong answer');
  t.equal(challenges.check('hat', 8, challenge, answer, issuedAt + 2000), 'challenge_failed', 'another user');
  t.equal(challenges.check('cap', 7, challenge, answer, issuedAt + 2000), 'challenge_failed', 'another item');
  t.equal(challenges.check('hat', 7, `${issuedAt - 5000}.${challenge.split('.')[1]}`, answer, issuedAt + 2000),
    'challenge_failed', 'a back-dated issue time');
  t.equal(challenges.check('hat', 7, challenge, ` ${answer} `, issuedAt + 2000), 'ok',
    'the right answer (spaces forgiven)');
  t.equal(challenges.check('hat', 7, challenge, answer, issuedAt + 3000), 'challenge_failed', 'used once only');
  const stale = challenges.issue('hat', 7, issuedAt);
  t.equal(challenges.check('hat', 7, stale.challenge, answerOf('hat', 7, stale.challenge), issuedAt + 60_001),
    'challenge_failed', 'stale');
  for (const junk of [undefined, 5, '', 'a.b', `${issuedAt}.short`, { toString: () => challenge }]) {
    t.equal(challenges.check('hat', 7, junk, answer, issuedAt + 2000), 'challenge_failed',
      `junk challenge ${String(junk)}`);
  }
  t.notMatch(question, /<text/, 'no text element');
  t.notOk(question.includes(answer), 'the answer is not in the SVG');
});

t.test('every digit draws as strokes', async (t) => {
  const svg = drawDigits('0123456789', Buffer.from('noise-bytes-for-the-test'));
  t.equal((svg.match(/<path transform/g) ?? []).length, 10);
  t.match(svg, /^<svg [^>]*viewBox="0 0 150 50"/);
});
