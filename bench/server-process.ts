// Starts a server under test (the engine or the bare endpoint) as its own
// process, waits for the line on stdout that names its port, keeps draining
// its output so that a full pipe never stalls it, reads the CPU time it has
// used from /proc, and stops it with SIGTERM. Every wait is bounded: a server
// that does not start, or does not exit, is killed and reported.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** Longest a server may take to print its port (the engine replays its log first). */
const START_TIMEOUT_MS = 20_000;
/** Longest SIGTERM may take: the engine drains its write-behind log into SQLite before exiting. */
const STOP_TIMEOUT_MS = 120_000;
/** Log lines kept per server, for the error report and for the engine's shutdown summary. */
const LINES_KEPT_MAX = 200;

export interface ServerProcess {
  port: number;
  pid: number;
  /** Parsed JSON lines of its stdout (the last LINES_KEPT_MAX), non-JSON lines as {msg}. */
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** SIGTERM, then the exit code; SIGKILL and null past STOP_TIMEOUT_MS. */
  stop: () => Promise<number | null>;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on nearly every Linux). */
const clockTicksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User plus system CPU milliseconds the process has used (all its threads), or null off Linux. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

function parseLine(line: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null) return parsed as Record<string, unknown>;
  } catch { /* not JSON */ }
  return { msg: line };
}

function stopper(proc: ChildProcess, exited: Promise<number | null>): () => Promise<number | null> {
  return async () => {
    if (proc.exitCode !== null) return proc.exitCode;
    proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        proc.kill('SIGKILL');
        resolve(null);
      }, STOP_TIMEOUT_MS);
    });
    const code = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    return code;
  };
}

/**
 * Spawns `node args...` and resolves once `portOf` finds the port in a stdout
 * line; rejects (after killing the process) if that takes too long or it exits.
 */
export function startServer(args: string[], env: NodeJS.ProcessEnv, cwd: string, portOf: (line: Record<string, unknown>) => number | null): Promise<ServerProcess> {
  const proc = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-10_000)));
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      proc.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: ${why}; stderr: ${stderr.trim() || '(empty)'}`));
    };
    let port: number | null = null;
    const timer = setTimeout(() => fail(`printed no port within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    void exited.then((code) => {
      if (port !== null) return;
      clearTimeout(timer);
      fail(`exited with code ${code} before listening`);
    });
    let buffered = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = parseLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        if (lines.length > LINES_KEPT_MAX) lines.shift();
        if (port !== null) continue;
        port = portOf(line);
        if (port === null) continue;
        clearTimeout(timer);
        resolve({ port, pid: proc.pid!, lines, stderr: () => stderr, stop: stopper(proc, exited) });
      }
    });
  });
}
