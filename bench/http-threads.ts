// How the benchmarks start a server on N HTTP threads, the same way for the
// engine and for its bare baseline, so that every engine/bare ratio is taken
// on the same number of threads:
//   engine  `--http-threads N` (N uWebSockets.js apps on N threads sharing
//           the port with SO_REUSEPORT), on a fixed free port when N > 1
//   bare    BARE_THREADS=N with BARE_PORT, the same shape (bare-server.ts)
//
// Engines built before the flag existed have exactly one HTTP thread, so the
// flag is passed only to an engine that knows it (its compiled config names
// it); asking an older engine for N > 1 is an error, never a silent 1. An
// engine that knows the flag always gets it, N = 1 included: its default
// with shard workers is "the cores the workers leave", which on a large
// machine is far more than one.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** The most HTTP threads a benchmark asks for (the engine's PRODUCERS_MAX on main). */
export const HTTP_THREADS_MAX = 16;

/** `--http-threads N` of a benchmark's argv, 1 when absent; exits the process on a bad value. */
export function httpThreadsFlag(argv: readonly string[]): number {
  const at = argv.indexOf('--http-threads');
  if (at === -1) return 1;
  const raw = argv[at + 1] ?? '';
  const value = Number(raw);
  if (!/^[0-9]+$/.test(raw) || value < 1 || value > HTTP_THREADS_MAX) {
    process.stderr.write(`--http-threads: expected a whole number 1..${HTTP_THREADS_MAX}, got "${raw}"\n`);
    process.exit(2);
  }
  return value;
}

/**
 * A port that was free a moment ago: bound on 127.0.0.1 port 0, read, closed.
 * Servers on several threads need a port fixed before they start (a port the
 * kernel picks at bind time cannot be shared by the others); the window
 * between closing it here and the server binding it is milliseconds.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const supportCache = new Map<string, boolean>();

/** Whether the engine built in checkout `root` has the --http-threads flag. */
export function engineKnowsHttpThreads(root: string): boolean {
  let known = supportCache.get(root);
  if (known === undefined) {
    try {
      known = fs.readFileSync(path.join(root, 'dist', 'engine', 'config.js'), 'utf8').includes("'http-threads'");
    } catch {
      known = false;
    }
    supportCache.set(root, known);
  }
  return known;
}

/**
 * --workers with N HTTP threads: the inline shard (--workers 0) lives on the
 * main thread's event loop, which no other HTTP thread can reach, so N > 1
 * needs at least one shard worker; --workers 0 becomes --workers 1.
 */
export const workersFor = (httpThreads: number, workers: number): number =>
  (httpThreads > 1 ? Math.max(1, workers) : workers);

/** The engine's --port, --workers and --http-threads arguments for N HTTP threads. */
export async function engineThreadArgs(root: string, httpThreads: number, workers: number): Promise<string[]> {
  const knows = engineKnowsHttpThreads(root);
  if (httpThreads > 1 && !knows) {
    throw new Error(`--http-threads ${httpThreads}: the engine built in ${root} has no --http-threads flag ` +
      `(only one HTTP thread); rebuild it from a checkout that has the flag`);
  }
  const port = httpThreads > 1 ? await freePort() : 0;
  return ['--port', String(port), '--workers', String(workersFor(httpThreads, workers)),
    ...(knows ? ['--http-threads', String(httpThreads)] : [])];
}

/** The bare server's environment for N threads: BARE_THREADS and a fixed free BARE_PORT when N > 1. */
export async function bareThreadEnv(httpThreads: number): Promise<Record<string, string>> {
  if (httpThreads === 1) return {};
  return { BARE_THREADS: String(httpThreads), BARE_PORT: String(await freePort()) };
}
