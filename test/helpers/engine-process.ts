// Starts the real engine as an operator would (`node engine/start` with
// flags, a real data directory, a real port on 127.0.0.1) and gives tests a
// handle: the port, its pino log lines, and ways to stop it (SIGTERM) or kill
// it (SIGKILL). Also signs user tokens and sends HTTP requests over a
// keep-alive agent.

import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { databaseFile } from '../../persistence/data-directory';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const USER_SECRET = 'test-user-secret-0123456789abcdef-xyz';
/** The FLASH_ADMIN_TOKEN of every test engine that uses the admin API (at least 32 bytes, as the engine requires). */
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';

export interface EngineHandle {
  port: number;
  dataDir: string;
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string[];
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export function tempDataDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `flash-${label}-`));
}

/**
 * The thread layouts every black-box test runs under, each as the flags
 * that choose it: the inline shard on the main thread, shard workers fed
 * by one HTTP thread, and shard workers fed by two HTTP threads sharing
 * the port (the kernel spreads connections over them).
 */
export const MODES: readonly { name: string; args: readonly string[] }[] = [
  { name: '--workers 0', args: ['--workers', '0', '--http-threads', '1'] },
  { name: '--workers 2', args: ['--workers', '2', '--http-threads', '1'] },
  { name: '--workers 2 --http-threads 2', args: ['--workers', '2', '--http-threads', '2'] },
];

/** The layouts with shard workers: a test of something the inline shard lacks (a worker's death) runs these. */
export const WORKER_MODES = MODES.filter((mode) => !mode.args.includes('0'));

/** One thread layout, as MODES holds it. */
export type Mode = (typeof MODES)[number];

/** The layout of MODES with this name (a test that switches layouts names the two). */
export function modeNamed(name: string): Mode {
  const found = MODES.find((mode) => mode.name === name);
  if (!found) throw new Error(`no layout named ${name}`);
  return found;
}

/**
 * The layouts of MODES with these names, in this order: a test too slow to
 * run under every layout picks the ends (the inline shard, and two HTTP
 * threads) and says why in a comment.
 */
export function modesNamed(...names: string[]): Mode[] {
  return names.map(modeNamed);
}

export interface StartOptions {
  dataDir: string;
  args?: string[];
  env?: Record<string, string>;
  /** Sale items to write to a file and pass with --sale. */
  sale?: Record<string, unknown>[];
  timeoutMs?: number;
}

export function writeSaleFile(dataDir: string, items: Record<string, unknown>[]): string {
  const file = path.join(dataDir, `sale-${crypto.randomBytes(4).toString('hex')}.json`);
  fs.writeFileSync(file, JSON.stringify({ items }));
  return file;
}

export function startEngine(options: StartOptions): Promise<EngineHandle> {
  const args = ['engine/start', '--port', '0', '--data', options.dataDir, ...(options.args ?? [])];
  if (options.sale) args.push('--sale', writeSaleFile(options.dataDir, options.sale));
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    // Rate limits and lag shedding are off unless a test turns them on: most
    // tests send thousands of buys from one address on a loaded machine and
    // assert the exact refusal of each.
    env: {
      ...process.env, FLASH_USER_SECRET: USER_SECRET, FLASH_LOG_LEVEL: 'info',
      FLASH_RATE_USER_PER_SEC: '0', FLASH_RATE_ADDRESS_PER_SEC: '0', FLASH_SHED_LAG_MS: '0', ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let killAsked = false;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => {
    // An engine that dies on its own, or stops with an error, fails the test
    // that used it unless the test meant it; its last warnings say why.
    if (code !== 0 && !killAsked) reportUnexpectedExit(code, lines, stderr);
    resolve(code);
  }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine did not start in time; stderr: ${stderr.join('')}`)),
      options.timeoutMs ?? 20_000);
    let buffered = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          parsed = { msg: line };
        }
        lines.push(parsed);
        if (parsed.msg === 'listening') {
          clearTimeout(timer);
          resolve({
            port: parsed.port as number, dataDir: options.dataDir, proc, lines, stderr, exited,
            stop: async () => { proc.kill('SIGTERM'); return exited; },
            kill: async () => { killAsked = true; proc.kill('SIGKILL'); await exited; },
          });
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code} before listening; stderr: ${stderr.join('')}`));
    });
  });
}

/** Logs of warning level and above (pino: 40 warn, 50 error, 60 fatal) that an unexpected exit prints. */
const WARN_LEVEL = 40;
const REPORTED_LINES_MAX = 20;

function reportUnexpectedExit(code: number | null, lines: Record<string, unknown>[], stderr: string[]): void {
  const warnings = lines.filter((line) => typeof line.level === 'number' && line.level >= WARN_LEVEL)
    .slice(-REPORTED_LINES_MAX).map((line) => JSON.stringify(line));
  process.stderr.write(`engine exited with ${code}; its last warnings:\n${warnings.join('\n')}\n` +
    `its stderr:\n${stderr.join('').slice(-4000)}\n`);
}

/** Runs `node engine/start` expecting it to fail; resolves with exit code and output. */
export function runEngineToExit(args: string[],
  env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['engine/start', ...args],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  return new Promise((resolve) => proc.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

export function signToken(userId: number, secret = USER_SECRET,
  expiresSec = Math.floor(Date.now() / 1000) + 3600): string {
  const payload = `v1.${userId}.${expiresSec}`;
  return `${payload}.${crypto.createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

export function request(port: number, method: string, urlPath: string, options: {
  token?: string; body?: string | Buffer; headers?: Record<string, string>; agent?: http.Agent;
} = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath, headers, agent: options.agent,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch { /* not JSON: tests that care look at body */ }
        resolve({ status: res.statusCode!, headers: res.headers, body, json });
      });
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Gets the buy path of a started item. */
export async function buyPathOf(port: number, itemId: string): Promise<string> {
  const reply = await request(port, 'GET', `/api/items/${itemId}/ticket`);
  if (reply.status !== 200) throw new Error(`ticket for ${itemId}: ${reply.status} ${reply.body}`);
  return reply.json.buyPath as string;
}

/** Runs `tasks` with at most `concurrency` at a time. */
export async function pool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  });
  await Promise.all(runners);
  return results;
}

export function item(id: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, name: `Item ${id}`, price: 1000, stock: 10, startsAt: Date.now() - 1000, ...fields };
}

/** Reads the engine's SQLite file (after it stopped) with better-sqlite3. */
export function readOrders(dataDir: string): { id: number; item_row: number; user_id: number; state: number }[] {
  const db = new Database(databaseFile(dataDir), { readonly: true });
  try {
    const rows = db.prepare('SELECT id, item_row, user_id, state FROM orders ORDER BY id').all();
    return rows as { id: number; item_row: number; user_id: number; state: number }[];
  } finally {
    db.close();
  }
}

/**
 * The engine's "start pushed" log lines for an item, one per HTTP thread,
 * each with the `clients` it pushed the start to; the main thread's line has
 * no `thread` field, another thread's says `http-N`. Waits until `threads`
 * lines are there (each thread logs after its own publish), at most `timeoutMs`.
 */
export async function startPushedLines(engine: EngineHandle, itemId: string, threads: number,
  timeoutMs = 5000): Promise<{ thread: string; clients: number }[]> {
  const deadline = Date.now() + timeoutMs;
  const lines = () => engine.lines.filter((line) => line.msg === 'start pushed' && line.item === itemId);
  while (lines().length < threads && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return lines().map((line) =>
    ({ thread: (line.thread as string | undefined) ?? 'main', clients: line.clients as number }));
}
