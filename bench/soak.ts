// Soak: does the engine stay flat and correct over minutes of mixed use? It
// starts the real engine (admin API on, rate limits at their defaults, with
// 127.0.0.0/8 exempt from the address limits so that one machine can play a
// crowd) on a sale of 10 order-mode and 10 reserve-mode items with a 3 s pay
// window, then for --seconds runs at once:
//   - HTTP shoppers: buys from users drawn out of a pool of a million;
//     a reserve-mode win is paid (half), cancelled (a quarter) or left to
//     expire; reads of /api/items, /sale.js and own orders;
//   - WebSocket churn: sockets opened and closed all the time (about 100
//     open), some buying over the socket;
//   - every 10 s the engine's RSS and GET /admin/stats, every 30 s a
//     snapshot (POST /admin/snapshot).
// The engine keeps every order in memory (25 B each), so its RSS must grow
// with orders; what is measured is the growth per order after a 30 s
// warm-up. Far more than 25 B per order would be a leak.
// Then it stops the engine with SIGTERM, runs `node scripts/reconcile` on
// the data directory, and checks in SQLite that every acknowledged order is
// there for its owner, in the state its last acknowledged action left it.
// It prints RSS over time and its growth after the warm-up, and exits 1 if
// any check failed or any answer was a 5xx other than 503.
//
//   node dist/bench/soak.js [--seconds 180] [--workers 0] [--connections 32]
//
// Loopback only, bounded in time (at most 30 minutes) and in memory (at
// most 500,000 acknowledged orders are tracked; past that, new ones are
// only counted).

import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';
import { signUserToken } from '../engine/user-token';
import { databaseFile } from '../persistence/data-directory';
import { ORDER_STATE } from '../persistence/log-record';
import { startServer, type ServerProcess } from './server-process';
import { median } from './result-summary';
import { numberFlag } from './suite-flags';

const ROOT = path.resolve(__dirname, '..', '..');
const USER_SECRET = 'soak-bench-user-secret-0123456789abcdefgh';
const ADMIN_TOKEN = 'soak-bench-admin-token-0123456789abcdefgh';
const USERS = 1_000_000;
const ORDERS_TRACKED_MAX = 500_000;
const WS_OPEN_TARGET = 100;
const SAMPLE_EVERY_MS = 10_000;
const SNAPSHOT_EVERY_MS = 30_000;
const PAY_WINDOW_SEC = 3;
/**
 * Per item. Small enough that each item's holdings table (sized for its
 * stock) is fully touched during the warm-up, so that RSS after it grows
 * only with what the engine keeps per order; large enough not to sell out.
 */
const STOCK = 100_000;
const WARM_UP_SEC = 30;
/** What the engine keeps in memory per order: user, createdAt, payBy (8 B each) and state (1 B). */
const ORDER_BYTES = 25;

interface Tracked { user: number; item: string; state: number }

interface Reply { status: number; json: Record<string, unknown> }

const counts = new Map<string, number>();
const count = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);

function call(port: number, agent: http.Agent, method: string, urlPath: string,
  headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath, agent, headers: { 'content-length': '0', ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: Record<string, unknown> = {};
        if ((res.headers['content-type'] ?? '').includes('json')) json = JSON.parse(text) as Record<string, unknown>;
        resolve({ status: res.statusCode!, json });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const randomUser = (): number => 1 + Math.floor(Math.random() * USERS);
const tokenOf = (user: number): string => signUserToken(USER_SECRET, user, Math.floor(Date.now() / 1000) + 7200);
const bearer = (user: number): Record<string, string> => ({ authorization: `Bearer ${tokenOf(user)}` });

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

function noteStatus(what: string, status: number): void {
  count(`${what} ${status}`);
  if (status >= 500 && status !== 503) count('bad 5xx');
}

/** One HTTP shopper loop until `until`. */
async function shopper(port: number, buyPaths: Map<string, string>, reserve: Set<string>, orders: Map<string, Tracked>,
  until: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const items = [...buyPaths.keys()];
  while (Date.now() < until) {
    const roll = Math.random();
    if (roll < 0.1) {
      noteStatus('items', (await call(port, agent, 'GET', '/api/items')).status);
      continue;
    }
    if (roll < 0.15) {
      noteStatus('sale.js', (await call(port, agent, 'GET', '/sale.js')).status);
      continue;
    }
    const user = randomUser();
    const item = items[Math.floor(Math.random() * items.length)]!;
    const won = await call(port, agent, 'POST', buyPaths.get(item)!, bearer(user));
    noteStatus('buy', won.status);
    if (won.status !== 200) continue;
    const order = won.json.order as string;
    count('won');
    const tracked: Tracked = { user, item, state: reserve.has(item) ? ORDER_STATE.reserved : ORDER_STATE.confirmed };
    if (orders.size < ORDERS_TRACKED_MAX) orders.set(order, tracked);
    if (!reserve.has(item)) continue;
    const next = Math.random();
    if (next < 0.5) {
      const paid = await call(port, agent, 'POST', `/api/orders/${order}/pay`, bearer(user));
      noteStatus('pay', paid.status);
      if (paid.status === 200) tracked.state = ORDER_STATE.paid;
    } else if (next < 0.75) {
      const cancelled = await call(port, agent, 'POST', `/api/orders/${order}/cancel`, bearer(user));
      noteStatus('cancel', cancelled.status);
      if (cancelled.status === 200) tracked.state = ORDER_STATE.cancelled;
    } else {
      // Left to expire; read it back once, as a shopper checking would.
      noteStatus('order', (await call(port, agent, 'GET', `/api/orders/${order}`, bearer(user))).status);
    }
  }
  agent.destroy();
}

/** Opens and closes sockets all the time, about WS_OPEN_TARGET open; some buy over the socket. */
async function socketChurn(port: number, buyPaths: Map<string, string>, orders: Map<string, Tracked>,
  until: number): Promise<void> {
  const open = new Set<WebSocket>();
  const items = [...buyPaths.keys()];
  let frameId = 0;
  while (Date.now() < until) {
    if (open.size < WS_OPEN_TARGET) {
      const user = randomUser();
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: bearer(user) });
      open.add(ws);
      ws.on('error', (error: Error) => count(`ws error: ${error.message.slice(0, 60)}`));
      ws.on('close', () => open.delete(ws));
      ws.on('message', (data: Buffer) => {
        const frame = unpack(data) as Record<string, unknown>;
        if (frame.op !== undefined) return count(`ws push ${String(frame.op)}`);
        count(frame.result === 'won' ? 'ws won' : `ws ${String(frame.error)}`);
        if (frame.result === 'won' && orders.size < ORDERS_TRACKED_MAX) {
          orders.set(frame.order as string, { user, item: frame.item as string, state: -1 });
        }
      });
      ws.on('open', () => {
        count('ws open');
        if (Math.random() < 0.5) {
          const item = items[Math.floor(Math.random() * items.length)]!;
          const ticket = buyPaths.get(item)!.split('/').pop();
          ws.send(pack({ op: 'buy', id: ++frameId, item, ticket }));
        }
      });
    }
    if (open.size > WS_OPEN_TARGET / 2 && Math.random() < 0.3) {
      const victim = [...open][Math.floor(Math.random() * open.size)]!;
      // Only an open socket: closing one still connecting is the client's own error.
      if (victim.readyState === WebSocket.OPEN) victim.close();
    }
    await sleep(20);
  }
  for (const ws of open) ws.terminate();
}

function checkOrders(dataDir: string, orders: Map<string, Tracked>, reserve: Set<string>,
  rows: Map<string, number>): string[] {
  const failures: string[] = [];
  const db = new Database(databaseFile(dataDir), { readonly: true });
  try {
    const byId = db.prepare('SELECT user_id, item_row, state FROM orders WHERE id = ?');
    let missing = 0;
    let wrongOwner = 0;
    let wrongState = 0;
    for (const [order, tracked] of orders) {
      const row = byId.get(BigInt(order)) as { user_id: number; item_row: number; state: number } | undefined;
      if (row === undefined) {
        missing++;
        continue;
      }
      if (row.user_id !== tracked.user || row.item_row !== rows.get(tracked.item)) wrongOwner++;
      // What the last acknowledged action must have left: paid stays paid
      // (or confirmed), cancelled stays cancelled, order mode is confirmed;
      // an unpaid reservation ends reserved or expired; over the socket the
      // follow-up is not tracked (-1).
      const allowed = tracked.state === -1 ? null
        : tracked.state === ORDER_STATE.reserved ? [ORDER_STATE.reserved, ORDER_STATE.expired]
          : tracked.state === ORDER_STATE.paid ? [ORDER_STATE.paid, ORDER_STATE.confirmed]
            : [tracked.state];
      if (allowed !== null && !allowed.includes(row.state)) wrongState++;
      if (tracked.state === ORDER_STATE.reserved && !reserve.has(tracked.item)) wrongState++;
    }
    if (missing > 0) failures.push(`${missing} acknowledged orders are missing from SQLite`);
    if (wrongOwner > 0) failures.push(`${wrongOwner} orders have another owner or item`);
    if (wrongState > 0) failures.push(`${wrongState} orders are in a state their last acknowledged action rules out`);
  } finally {
    db.close();
  }
  return failures;
}

async function main(): Promise<void> {
  const seconds = numberFlag(process.argv, 'seconds', 180);
  const workers = numberFlag(process.argv, 'workers', 0);
  const connections = numberFlag(process.argv, 'connections', 32);
  if (seconds < 10 || seconds > 1800) throw new Error('--seconds is 10 to 1800');
  if (connections < 1 || connections > 256) throw new Error('--connections is 1 to 256');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-soak-'));
  const saleFile = path.join(dataDir, 'sale.json');
  const startsAt = Date.now() - 1000;
  const items = Array.from({ length: 20 }, (_, i) => ({
    id: `${i < 10 ? 'order' : 'reserve'}-${i % 10}`, name: `Item ${i}`, price: 1000, stock: STOCK, perUserLimit: 2,
    startsAt, endsAt: startsAt + 7_200_000,
    ...(i < 10 ? {} : { mode: 'reserve', payWindowSec: PAY_WINDOW_SEC }),
  }));
  fs.writeFileSync(saleFile, JSON.stringify({ items }));
  const reserve = new Set(items.filter((item) => item.mode === 'reserve').map((item) => item.id));
  const rows = new Map(items.map((item, i) => [item.id, i + 1]));
  let engine: ServerProcess | null = await startServer({
    args: ['engine/start', '--port', '0', '--data', dataDir, '--sale', saleFile, '--workers', String(workers),
      '--rate-exempt', '127.0.0.0/8'],
    env: { ...process.env, FLASH_USER_SECRET: USER_SECRET, FLASH_ADMIN_TOKEN: ADMIN_TOKEN }, cwd: ROOT,
  }, (line) => (line.msg === 'listening' ? (line.port as number) : null));
  const failures: string[] = [];
  const samples: { atSec: number; rssMiB: number; lagRecords: number; orders: number }[] = [];
  const orders = new Map<string, Tracked>();
  const snapshotsAtSec: number[] = [];
  const snapshotTimes: { pausedMs: number; totalMs: number }[] = [];
  try {
    const { port, pid } = engine;
    const admin = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const buyPaths = new Map<string, string>();
    for (const item of items) {
      buyPaths.set(item.id, (await call(port, admin, 'GET', `/api/items/${item.id}/ticket`)).json.buyPath as string);
    }
    const started = Date.now();
    const until = started + seconds * 1000;
    const sample = async (): Promise<void> => {
      const stats = await call(port, admin, 'GET', '/admin/stats', adminHeaders);
      const won = (stats.json.items as { won: number }[] | undefined)?.reduce((sum, item) => sum + item.won, 0) ?? NaN;
      samples.push({
        atSec: Math.round((Date.now() - started) / 1000), rssMiB: rssMiB(pid),
        lagRecords: Number(stats.json.writeBehindLagRecords ?? NaN), orders: won,
      });
    };
    await sample();
    const sampler = setInterval(() => void sample().catch(() => count('sample failed')), SAMPLE_EVERY_MS);
    const snapshotter = setInterval(() => {
      snapshotsAtSec.push((Date.now() - started) / 1000);
      const asked = performance.now();
      void call(port, admin, 'POST', '/admin/snapshot', adminHeaders).then((r) => {
        noteStatus('snapshot', r.status);
        if (r.status === 200) {
          snapshotTimes.push({ pausedMs: Number(r.json.pausedMs), totalMs: performance.now() - asked });
        }
      }, () => count('snapshot failed'));
    }, SNAPSHOT_EVERY_MS);
    await Promise.all([
      ...Array.from({ length: connections }, () => shopper(port, buyPaths, reserve, orders, until)),
      socketChurn(port, buyPaths, orders, until),
    ]);
    clearInterval(sampler);
    clearInterval(snapshotter);
    // Let the last reservations expire before the books are read.
    await sleep((PAY_WINDOW_SEC + 2) * 1000);
    await sample();
    admin.destroy();
    const code = await engine.stop();
    engine = null;
    if (code !== 0) failures.push(`the engine exited with code ${code} on SIGTERM`);
    const reconcile = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'reconcile'), '--data', dataDir],
      { encoding: 'utf8' });
    if (reconcile.status !== 0) failures.push(`reconcile failed: ${reconcile.stdout}${reconcile.stderr}`);
    failures.push(...checkOrders(dataDir, orders, reserve, rows));
  } finally {
    if (engine !== null) await engine.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if ((counts.get('bad 5xx') ?? 0) > 0) failures.push(`${counts.get('bad 5xx')} answers were 5xx other than 503`);
  const warm = samples.find((s) => s.atSec >= WARM_UP_SEC) ?? samples[0]!;
  const last = samples.at(-1)!;
  const peak = Math.max(...samples.map((s) => s.rssMiB));
  const ordersAfterWarmUp = last.orders - warm.orders;
  const bytesPerOrder = ((last.rssMiB - warm.rssMiB) * 1024 * 1024) / Math.max(1, ordersAfterWarmUp);
  // A snapshot copies every item's arrays: the allocator keeps some of that
  // memory, so RSS steps up at snapshots. Between two samples with no
  // snapshot (and after the warm-up) only the kept state should grow it.
  let quietBytes = 0;
  let quietOrders = 0;
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1]!, samples[i]!];
    if (a.atSec < WARM_UP_SEC || snapshotsAtSec.some((at) => at >= a.atSec - 2 && at <= b.atSec + 2)) continue;
    quietBytes += (b.rssMiB - a.rssMiB) * 1024 * 1024;
    quietOrders += b.orders - a.orders;
  }
  process.stdout.write(`soak ${seconds} s, --workers ${workers}, ${connections} HTTP shoppers + WebSocket churn, ` +
    `on ${os.cpus()[0]?.model} x${os.availableParallelism()}\n`);
  process.stdout.write(`answers: ${JSON.stringify(Object.fromEntries([...counts].sort()))}\n`);
  process.stdout.write(`RSS MiB over time (s: MiB, write-behind lag records): ` +
    `${samples.map((s) => `${s.atSec}: ${s.rssMiB.toFixed(0)} (${s.lagRecords})`).join(', ')}\n`);
  process.stdout.write(`RSS after warm-up (${warm.atSec} s) ${warm.rssMiB.toFixed(0)} MiB, ` +
    `at the end ${last.rssMiB.toFixed(0)} MiB (growth ${(last.rssMiB - warm.rssMiB).toFixed(0)} MiB), ` +
    `peak ${peak.toFixed(0)} MiB; ${ordersAfterWarmUp} orders since the warm-up: ` +
    `${bytesPerOrder.toFixed(0)} B of RSS per order, snapshots included; ` +
    `between snapshots ${(quietBytes / Math.max(1, quietOrders)).toFixed(0)} B per order over ${quietOrders} orders ` +
    `(the order arrays keep ${ORDER_BYTES} B per order)\n`);
  const spread = (values: number[]): string =>
    (values.length === 0 ? 'none' : `median ${median(values).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`);
  process.stdout.write(`snapshots: ${snapshotTimes.length}; ` +
    `sales paused ${spread(snapshotTimes.map((t) => t.pausedMs))}; ` +
    `request to written file ${spread(snapshotTimes.map((t) => t.totalMs))}\n`);
  process.stdout.write(`orders checked in SQLite: ${orders.size}; ` +
    `reconcile ${failures.some((f) => f.startsWith('reconcile')) ? 'FAILED' : 'passed'}\n`);
  if (failures.length > 0) {
    process.stdout.write(`FAILED:\n- ${failures.join('\n- ')}\n`);
    process.exitCode = 1;
  } else process.stdout.write('every check held\n');
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
