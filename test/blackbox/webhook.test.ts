// Proves the webhook sender (--webhook): a receiver on 127.0.0.1 gets every
// event of the outcome stream in order, offsets contiguous, at least once,
// and duplicates only as a whole batch sent again after a failed POST; each
// body's signature verifies with FLASH_WEBHOOK_SECRET; after a kill -9 of
// the engine while the receiver refuses, delivery continues from the
// durable cursor and nothing is missed; SIGTERM stops the engine even with
// a POST hanging. A bad --webhook stops start-up with exit code 2.

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  ADMIN_TOKEN, MODES, buyPathOf, item, pool, request, runEngineToExit, signToken, startEngine, tempDataDir,
  type EngineHandle,
} from '../helpers/engine-process';
import { contiguous, type StreamEvent } from '../helpers/outcome-stream';

const SECRET = 'webhook-secret-for-tests-0123456789abcdef';

interface Post {
  status: number;
  events: StreamEvent[];
  first: number;
  last: number;
  signed: boolean;
}

/** A receiver that answers each POST with `answer()` (a status, or 'hang' to never answer) and keeps them all. */
class Receiver {
  readonly posts: Post[] = [];
  answer: () => number | 'hang' = () => 200;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const answer = this.answer();
      const expected = `sha256=${crypto.createHmac('sha256', SECRET).update(body).digest('hex')}`;
      const events = body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as StreamEvent);
      this.posts.push({
        status: answer === 'hang' ? 0 : answer, events, signed: req.headers['x-flash-signature'] === expected,
        first: Number(req.headers['x-flash-first-offset']), last: Number(req.headers['x-flash-last-offset']),
      });
      if (answer !== 'hang') res.writeHead(answer).end();
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }

  /** The offsets of every event in an accepted POST, in arrival order. */
  accepted(): number[] {
    return this.posts.filter((p) => p.status === 200).flatMap((p) => p.events.map((e) => e.offset));
  }

  async until(check: () => boolean, timeoutMs = 15_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!check() && Date.now() < deadline) await sleep(20);
    return check();
  }
}

async function buyMany(engine: EngineHandle, first: number, count: number): Promise<number> {
  const buyPath = await buyPathOf(engine.port, 'a');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const replies = await pool(count, 20,
    (i) => request(engine.port, 'POST', buyPath, { token: signToken(first + i), agent }));
  agent.destroy();
  return replies.filter((r) => r.status === 200).length;
}

/** Each POST begins right after the last accepted offset: a failed batch is sent again whole, nothing skipped. */
function resentWhole(posts: readonly Post[]): boolean {
  let delivered = posts[0]!.first - 1;
  return posts.every((post) => {
    const ok = post.first === delivered + 1 && post.events[0]!.offset === post.first &&
      post.events.at(-1)!.offset === post.last && contiguous(post.events.map((e) => e.offset), post.first);
    if (post.status === 200) delivered = post.last;
    return ok;
  });
}

const env = { FLASH_ADMIN_TOKEN: ADMIN_TOKEN, FLASH_WEBHOOK_SECRET: SECRET };
const sale = [item('a', { stock: 10_000 })];

for (const mode of MODES) {
  t.test(`with ${mode.name}, every event reaches the receiver in order through refusals, signed`, async (t) => {
    const receiver = new Receiver();
    const url = await receiver.listen();
    t.teardown(() => receiver.close());
    let refusals = 3;
    receiver.answer = () => (refusals-- > 0 ? 500 : 200);
    const args = [...mode.args, '--webhook', url];
    const engine = await startEngine({ dataDir: tempDataDir('webhook'), args, sale, env });
    t.equal(await buyMany(engine, 1, 700), 700, '700 wins');
    t.ok(await receiver.until(() => receiver.accepted().at(-1) === 700), 'the receiver acknowledged up to offset 700');
    t.ok(contiguous(receiver.accepted()), 'accepted events are offsets 1..700, each once, in order');
    t.same(receiver.posts.slice(0, 3).map((p) => [p.status, p.first]), [[500, 1], [500, 1], [500, 1]],
      'the refused batch is sent again from the same offset');
    t.ok(resentWhole(receiver.posts), 'every POST starts right after the last accepted offset and is contiguous');
    t.ok(receiver.posts.every((p) => p.signed), 'every body\'s X-Flash-Signature verifies');
    t.ok(receiver.posts.every((p) => p.events.length <= 500), 'no POST holds more than 500 events');
    t.ok(receiver.posts.every((p) => p.events.every((e) => e.type === 'won' && e.item === 'a')), 'won events of a');
    const metrics = (await request(engine.port, 'GET', '/metrics')).body;
    t.match(metrics, /^flash_webhook_delivered_offset 700$/m);
    t.match(metrics, /^flash_webhook_failures_total 3$/m);
    t.match(metrics, /^flash_events_head_offset 700$/m);
    // A POST that never gets an answer must not hold up a stop.
    receiver.answer = () => 'hang';
    t.equal(await buyMany(engine, 1001, 1), 1);
    t.ok(await receiver.until(() => receiver.posts.at(-1)!.first === 701), 'the next batch is in flight');
    const stopping = Date.now();
    t.equal(await engine.stop(), 0, 'SIGTERM with a POST hanging exits 0');
    t.ok(Date.now() - stopping < 5000, `and promptly (${Date.now() - stopping} ms)`);
  });

  t.test(`with ${mode.name}, after kill -9 while the receiver refuses, delivery resumes from the durable cursor`,
    async (t) => {
    const receiver = new Receiver();
    const url = await receiver.listen();
    t.teardown(() => receiver.close());
    const dataDir = tempDataDir('webhook-kill');
    const args = [...mode.args, '--webhook', url];
    let engine = await startEngine({ dataDir, args, sale, env });
    t.equal(await buyMany(engine, 1, 50), 50);
    t.ok(await receiver.until(() => receiver.accepted().at(-1) === 50), 'the first 50 are delivered');
    receiver.answer = () => 500;
    t.equal(await buyMany(engine, 101, 50), 50);
    t.ok(await receiver.until(() => receiver.posts.filter((p) => p.status === 500).length >= 2),
      'the receiver refused the next batch twice');
    await engine.kill();
    const refusedPosts = receiver.posts.length;
    receiver.answer = () => 200;
    engine = await startEngine({ dataDir, args, sale, env });
    t.teardown(() => engine.stop());
    t.ok(await receiver.until(() => receiver.accepted().at(-1) === 100), 'delivery reaches offset 100 after restart');
    t.equal(receiver.posts[refusedPosts]!.first, 51, 'the first POST after the restart starts after the cursor, at 51');
    t.ok(contiguous(receiver.accepted()), 'accepted events are offsets 1..100, none missed and none twice');
    t.ok(resentWhole(receiver.posts), 'every POST starts right after the last accepted offset');
  });
}

t.test('a --webhook that is not an http:// or https:// URL stops start-up with exit code 2', async (t) => {
  for (const bad of ['ftp://example.com/hook', 'not a url', 'http://']) {
    const { code, stderr } = await runEngineToExit(
      ['--port', '0', '--data', tempDataDir('webhook-bad'), '--webhook', bad]);
    t.equal(code, 2, `"${bad}" exits 2`);
    t.match(stderr, /--webhook/, 'the message names the flag');
  }
  const { code } = await runEngineToExit(['--port', '0', '--data', tempDataDir('webhook-bad')],
    { FLASH_WEBHOOK: 'http://127.0.0.1:1/x', FLASH_WEBHOOK_SECRET: 'short' });
  t.equal(code, 2, 'a FLASH_WEBHOOK_SECRET under 32 bytes exits 2');
});
