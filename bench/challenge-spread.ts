// How a challenge spreads the start-second spike. N shoppers wait for the
// start of two items, one plain and one with `challenge: true`, then:
//   plain       buy at once (the spike a challenge is meant to spread);
//   quiz, bots  fetch a challenge at the start and answer as early as the
//               engine allows (the bench knows the ticket secret, as a bot
//               that reads the image perfectly would know the answer);
//   quiz, human fetch at the start and answer after a reading time drawn
//               from a stated model (lognormal, median 4 s, sigma 0.5): a
//               model, not a measurement of people.
// The engine's own record is what is measured: each order's createdAt in
// SQLite after the run, as milliseconds after startsAt. Reports, per
// variant, the busiest 100 ms, and when the first, 50th and 90th percentile
// and last orders were taken.
//
//   node dist/bench/challenge-spread.js [--shoppers 2000]

import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { challengeAnswer, challengeSecretOf } from '../engine/challenge';
import { signUserToken } from '../engine/user-token';
import { startServer } from './server-process';
import { numberFlag } from './suite-flags';

const ROOT = path.resolve(__dirname, '..', '..');
const USER_SECRET = 'challenge-spread-user-secret-0123456789abcdef';
const TICKET_SECRET = 'challenge-spread-ticket-secret-0123456789abcdef';
const THINK_MS = 1000;

type Variant = 'plain' | 'quiz-bots' | 'quiz-humans';

function call(port: number, agent: http.Agent, method: string, urlPath: string, token: string,
  body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`, 'content-length': String(body === undefined ? 0 : Buffer.byteLength(body)),
    };
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A reading time in ms: lognormal with median 4 s and sigma 0.5 (Box-Muller on a seeded generator). */
function humanReadingMs(rand: () => number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return 4000 * Math.exp(0.5 * normal);
}

async function runVariant(variant: Variant, shoppers: number): Promise<Record<string, number>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-challenge-spread-'));
  const startsAt = Date.now() + 3000;
  const itemId = variant === 'plain' ? 'plain' : 'quiz';
  const saleFile = path.join(dataDir, 'sale.json');
  fs.writeFileSync(saleFile, JSON.stringify({
    items: [{
      id: itemId, name: itemId, price: 100, stock: shoppers, perUserLimit: 1, startsAt, challenge: variant !== 'plain',
    }],
  }));
  const engine = await startServer({
    args: ['engine/start', '--port', '0', '--data', dataDir, '--sale', saleFile, '--workers', '0'],
    env: {
      ...process.env, FLASH_USER_SECRET: USER_SECRET, FLASH_TICKET_SECRET: TICKET_SECRET, FLASH_RATE_USER_PER_SEC: '0',
      FLASH_RATE_ADDRESS_PER_SEC: '0', FLASH_CHALLENGE_THINK_MS: String(THINK_MS),
    },
    cwd: ROOT,
  }, (line) => (line.msg === 'listening' ? (line.port as number) : null));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const secret = challengeSecretOf(TICKET_SECRET);
  let seed = 7;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  let challengeRequests = 0;
  try {
    const expires = Math.floor(Date.now() / 1000) + 3600;
    const tokens = Array.from({ length: shoppers }, (_, i) => signUserToken(USER_SECRET, i + 1, expires));
    await sleep(startsAt - Date.now());
    const { text } = await call(engine.port, agent, 'GET', `/api/items/${itemId}/ticket`, tokens[0]!);
    const buyPath = (JSON.parse(text) as { buyPath: string }).buyPath;
    await Promise.all(tokens.map(async (token, i) => {
      if (variant === 'plain') return call(engine.port, agent, 'POST', buyPath, token);
      // Until a buy is taken (a too-early answer is refused and tried again, as a bot would).
      const issued = await call(engine.port, agent, 'GET', `/api/items/${itemId}/challenge`, token);
      challengeRequests++;
      const { challenge } = JSON.parse(issued.text) as { challenge: string };
      const [issuedMs, nonce] = challenge.split('.');
      const answer = challengeAnswer(secret, itemId, i + 1, Number(issuedMs), nonce!);
      const readyAt = Number(issuedMs) +
        (variant === 'quiz-bots' ? THINK_MS : Math.max(THINK_MS, humanReadingMs(rand)));
      await sleep(Math.max(0, readyAt - Date.now()));
      for (let attempt = 0; attempt < 20; attempt++) {
        const reply = await call(engine.port, agent, 'POST', buyPath, token, JSON.stringify({ challenge, answer }));
        if (reply.status === 200) return reply;
        await sleep(20);
      }
      throw new Error(`shopper ${i + 1} never bought`);
    }));
  } finally {
    agent.destroy();
    await engine.stop();
  }
  const db = new Database(path.join(dataDir, 'flash-sale.sqlite'), { readonly: true });
  const created = (db.prepare('SELECT created_at AS at FROM orders ORDER BY created_at').all() as { at: number }[])
    .map((r) => r.at - startsAt);
  db.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  const buckets = new Map<number, number>();
  for (const at of created) buckets.set(Math.floor(at / 100), (buckets.get(Math.floor(at / 100)) ?? 0) + 1);
  const at = (q: number): number => created[Math.min(created.length - 1, Math.floor(q * created.length))]!;
  return {
    orders: created.length, busiest100ms: Math.max(...buckets.values()), firstMs: created[0]!, p50Ms: at(0.5),
    p90Ms: at(0.9), lastMs: created.at(-1)!,
    challengeRequests,
  };
}

async function main(): Promise<void> {
  const shoppers = numberFlag(process.argv, 'shoppers', 2000);
  process.stdout.write(
    `| variant | orders | busiest 100 ms | first | median | 90th pct | last | challenge requests |\n` +
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`);
  for (const variant of ['plain', 'quiz-bots', 'quiz-humans'] as const) {
    const r = await runVariant(variant, shoppers);
    process.stdout.write(`| ${variant} | ${r.orders} | ${r.busiest100ms} | ${r.firstMs} ms | ${r.p50Ms} ms | ` +
      `${r.p90Ms} ms | ${r.lastMs} ms | ${r.challengeRequests} |\n`);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
