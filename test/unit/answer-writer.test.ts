// Proves that the answer writer produces exactly what JSON.stringify would
// for won answers and numbers at their boundaries (0, one digit, 2^32 + 1,
// 2^53 - 1), since the buy path writes its JSON by hand.

import t from 'tap';
import { AnswerWriter, FRAGMENT } from '../../engine/answer-writer';

t.test('integers are written in decimal exactly, up to 2^53 - 1', async (t) => {
  const writer = new AnswerWriter();
  for (const n of [0, 1, 9, 10, 99, 100, 4294967297, 1795438936794, Number.MAX_SAFE_INTEGER - 1,
    Number.MAX_SAFE_INTEGER]) {
    t.equal(writer.reset().integer(n).view().toString(), String(n), String(n));
  }
  t.throws(() => writer.reset().integer(-1), 'negative numbers are refused');
  t.throws(() => writer.reset().integer(1.5), 'fractions are refused');
});

t.test('a won answer is the JSON the contract shows', async (t) => {
  const writer = new AnswerWriter();
  const item = Buffer.from('phone-x');
  for (const payBy of [0, 1795438936794]) {
    const text = writer.reset().bytes(FRAGMENT.wonOrder).integer(4294967297).bytes(FRAGMENT.wonItem).bytes(item)
      .bytes(FRAGMENT.wonPayBy).timeOrNull(payBy).bytes(FRAGMENT.close).view().toString();
    t.same(JSON.parse(text),
      { result: 'won', order: '4294967297', item: 'phone-x', payBy: payBy === 0 ? null : payBy });
  }
});

t.test('views of the same length are reused and show the latest bytes', async (t) => {
  const writer = new AnswerWriter();
  const first = writer.reset().integer(12).view();
  const second = writer.reset().integer(34).view();
  t.equal(first, second, 'one view per length');
  t.equal(second.toString(), '34');
});
