// Proves the sale page's own MessagePack codec (static/msgpack.js, plain
// browser JS) against msgpackr, the codec the engine speaks: every kind of
// value, at each size boundary of the format, decodes what msgpackr packs
// and encodes what msgpackr unpacks; bad frames throw instead of yielding
// half a message. The file is run in a vm context, as a browser would run it.

import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { pack, unpack } from 'msgpackr';
import t from 'tap';
import { ROOT } from '../helpers/engine-process';

interface Codec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

function loadCodec(): Codec {
  const window: { MsgPack?: Codec } = {};
  const source = fs.readFileSync(path.join(ROOT, 'static', 'msgpack.js'), 'utf8');
  vm.runInNewContext(source, { window, TextEncoder, TextDecoder, DataView, ArrayBuffer, Uint8Array, BigInt });
  return window.MsgPack!;
}

const codec = loadCodec();
const bytes = (...list: number[]) => new Uint8Array(list);
const keys = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));

const INTEGERS = [
  0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53 - 1),
];
const VALUES: unknown[] = [
  ...INTEGERS, 1.5, -0.25, 1e300, Number.MIN_VALUE, null, true, false,
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(65536), 'é€😀',
  [], Array.from({ length: 15 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => i),
  Array.from({ length: 65536 }, () => 0),
  {}, keys(15), keys(16),
  { op: 'start', item: 'phone-x', buyPath: '/api/buy/phone-x/abc' },
  { op: 'stock', item: 'phone-x', left: 99 }, { id: 7, now: 1_795_000_000_000 },
  { nested: { list: [1, 'two', { three: [null, false] }] } },
];

t.test('decodes what msgpackr packs, for every kind and size boundary', async (t) => {
  for (const value of VALUES) t.same(codec.decode(pack(value)), value, `${JSON.stringify(value)?.slice(0, 40)}`);
});

t.test('msgpackr unpacks what it encodes, for every kind and size boundary', async (t) => {
  for (const value of VALUES) t.same(unpack(codec.encode(value)), value, `${JSON.stringify(value)?.slice(0, 40)}`);
});

t.test('bin round-trips as bytes both ways', async (t) => {
  for (const size of [0, 1, 255, 256, 65536]) {
    const data = new Uint8Array(size).map((_, i) => i & 0xff);
    t.same([...(codec.decode(pack(Buffer.from(data))) as Uint8Array)], [...data], `${size} bytes from msgpackr`);
    t.same([...(unpack(codec.encode(data)) as Buffer)], [...data], `${size} bytes to msgpackr`);
  }
});

t.test('integers take the smallest encoding', async (t) => {
  t.same(codec.encode(5), bytes(0x05));
  t.same(codec.encode(-5), bytes(0xfb));
  t.same(codec.encode(200), bytes(0xcc, 200));
  t.same(codec.encode(-100), bytes(0xd0, 0x9c));
  t.same(codec.encode(2 ** 32), bytes(0xcf, 0, 0, 0, 1, 0, 0, 0, 0));
});

t.test('64-bit integers decode to Numbers, float32 too', async (t) => {
  t.equal(codec.decode(bytes(0xcf, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), 2 ** 53 - 1);
  t.equal(codec.decode(bytes(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), -1);
  t.equal(codec.decode(bytes(0xd3, 0xff, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01)), -(2 ** 53 - 1));
  t.equal(codec.decode(bytes(0xca, 0x3f, 0xc0, 0x00, 0x00)), 1.5);
});

t.test('undefined fields are left out of maps, as JSON does', async (t) => {
  t.same(unpack(codec.encode({ a: 1, b: undefined })), { a: 1 });
});

t.test('a "__proto__" key is an ordinary field, never a prototype', async (t) => {
  const frame = bytes(0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01);
  const decoded = codec.decode(frame) as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(decoded), Object.getPrototypeOf(codec.decode(bytes(0x80))),
    'the prototype is untouched');
  t.ok(Object.prototype.hasOwnProperty.call(decoded, '__proto__'), 'the key is an own field');
});

t.test('bad frames throw: truncated, trailing bytes, lying counts, extension types', async (t) => {
  const full = pack({ op: 'stock', item: 'phone-x', left: 99 });
  for (let cut = 0; cut < full.length; cut++) t.throws(() => codec.decode(full.subarray(0, cut)), `cut at ${cut}`);
  t.throws(() => codec.decode(bytes(0x01, 0x02)), /trailing/);
  t.throws(() => codec.decode(bytes(0xdd, 0xff, 0xff, 0xff, 0xff)), /truncated/, 'an array claiming 4 G elements');
  t.throws(() => codec.decode(bytes(0xdf, 0xff, 0xff, 0xff, 0xff)), /truncated/, 'a map claiming 4 G entries');
  t.throws(() => codec.decode(bytes(0xd4, 0x01, 0x00)), /unsupported/);
  t.throws(() => codec.decode(bytes(0xc1)), /unsupported/, 'the never-used byte');
});
