// Challenge items against the real engine, over HTTP and the WebSocket:
// the challenge is issued only from the start and only with a token; the
// question is an SVG with no text; a buy without an answer, with a wrong,
// too quick, reused or another user's answer is refused 400
// challenge_failed and leaves stock untouched; the right answer after the
// think time wins once. The test knows the ticket secret (as the shop
// would) and so can compute answers, which no shopper can.

import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import t from 'tap';
import { challengeAnswer, challengeSecretOf } from '../../engine/challenge';
import { MODES, buyPathOf, item, request, signToken, startEngine, tempDataDir } from '../helpers/engine-process';
import { connectWs } from '../helpers/ws-client';

const TICKET_SECRET = 'challenge-test-ticket-secret-0123456789abcdef';
const secret = challengeSecretOf(TICKET_SECRET);
const answerOf = (itemId: string, userId: number, challenge: string): string => {
  const [issued, nonce] = challenge.split('.');
  return challengeAnswer(secret, itemId, userId, Number(issued), nonce!);
};

for (const mode of MODES) {
  t.test(`with ${mode.name}, challenge items`, async (t) => {
    const startsAt = Date.now() + 3000;
    const engine = await startEngine({
      dataDir: tempDataDir('challenge'), args: [...mode.args],
      env: { FLASH_TICKET_SECRET: TICKET_SECRET, FLASH_CHALLENGE_THINK_MS: '400' },
      sale: [item('quiz', { stock: 10, perUserLimit: 1, challenge: true, startsAt }), item('plain', { stock: 10 })],
    });
    t.teardown(() => engine.stop());
    const ask = (userId: number, itemId = 'quiz') =>
      request(engine.port, 'GET', `/api/items/${itemId}/challenge`, { token: signToken(userId) });

    const early = await ask(1);
    t.equal(early.status, 403, 'no challenge before the start');
    t.match(early.json, { error: 'not_started', startsAt });
    t.equal((await request(engine.port, 'GET', '/api/items/quiz/challenge')).status, 401, 'a token is required');
    t.equal((await ask(1, 'plain')).status, 400, 'only challenge items have one');
    await sleep(startsAt - Date.now() + 50);

    const buyPath = await buyPathOf(engine.port, 'quiz');
    const buy = (userId: number, body?: Record<string, unknown>) => request(engine.port, 'POST', buyPath,
      { token: signToken(userId), body: body === undefined ? undefined : JSON.stringify(body) });
    const issued = await ask(1);
    t.equal(issued.status, 200);
    const { challenge, question } = issued.json as { challenge: string; question: string };
    t.match(question, /^<svg /, 'the question is an SVG');
    t.notMatch(question, /<text|<foreignObject|<script/i, 'with no text, foreign objects or scripts');
    const answer = answerOf('quiz', 1, challenge);
    t.notOk(question.includes(answer), 'the answer is not in it');

    t.same((await buy(1)).json, { error: 'challenge_failed' }, 'no answer');
    t.same((await buy(1, { challenge, answer })).json, { error: 'challenge_failed' },
      'too quick (under the think time)');
    await sleep(450);
    t.same((await buy(1, { challenge, answer: answer === '00000' ? '11111' : '00000' })).json,
      { error: 'challenge_failed' }, 'wrong');
    t.same((await buy(2, { challenge, answer })).json, { error: 'challenge_failed' }, "another user's challenge");
    t.equal((await buy(1, { challenge, answer, extra: 'x' })).status, 400, 'a body with other fields is bad_request');
    t.equal((await request(engine.port, 'GET', '/api/items/quiz')).json.left, 10, 'no refusal took stock');
    const won = await buy(1, { challenge, answer });
    t.equal(won.json.result, 'won', 'the right answer after the think time wins');
    const second = await ask(3);
    await sleep(450);
    // Were the challenge accepted again, the answer would be limit_reached (user 1 holds the one unit allowed).
    // Each try is on a fresh connection, so that with two HTTP threads the kernel puts some on each: a used
    // challenge must be refused by every thread, not only by the one it was used on.
    const reused = await Promise.all(Array.from({ length: 8 }, () => request(engine.port, 'POST', buyPath,
      { token: signToken(1), body: JSON.stringify({ challenge, answer }),
        agent: new http.Agent({ keepAlive: false }) })));
    t.same(reused.map((r) => r.json), reused.map(() => ({ error: 'challenge_failed' })),
      'a used challenge cannot be used again, on any connection');

    // Over the WebSocket: the same rules, the answer in the frame.
    const shopper = await connectWs(engine.port, { token: signToken(3) });
    t.teardown(() => shopper.close());
    const ticket = buyPath.split('/').pop()!;
    shopper.send({ op: 'buy', id: 1, item: 'quiz', ticket });
    t.same(await shopper.next((f) => f.id === 1), { id: 1, error: 'challenge_failed' },
      'a socket buy without an answer');
    const c3 = (second.json as { challenge: string }).challenge;
    shopper.send({ op: 'buy', id: 2, item: 'quiz', ticket, challenge: c3, answer: answerOf('quiz', 3, c3) });
    t.match(await shopper.next((f) => f.id === 2), { id: 2, result: 'won' }, 'and with one');

    const stats = await request(engine.port, 'GET', '/metrics');
    t.match(stats.body, /flash_buys_total\{item="quiz",outcome="challenge_failed"\} [1-9]/,
      'refusals are counted by reason');
  });
}
