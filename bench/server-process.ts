// Starts a server under test (the engine, the bare endpoint, the Redis peer
// or redis-server itself) as its own process, waits for the line on stdout that names its port, keeps draining
// its output so that a full pipe never stalls it, reads the CPU time it has
// used and its peak resident memory from /proc, and stops it with SIGTERM. Every wait is bounded: a server
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

/** Every child this process started and that has not exited yet. */
const liveChildren = new Set<ChildProcess>();

/**
 * Registers a child so that it is killed when this process exits, however it
 * exits: a benchmark that fails half-way must not leave engines, redis-server
 * or wrk running on the machine.
 */
export function trackChild<T extends ChildProcess>(proc: T): T {
  liveChildren.add(proc);
  proc.once('exit', () => liveChildren.delete(proc));
  return proc;
}

/** SIGKILLs every tracked child still alive (at exit, or on Ctrl-C). */
export function killAllChildren(): void {
  for (const proc of liveChildren) proc.kill('SIGKILL');
}

process.once('exit', killAllChildren);

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on nearly every Linux). */
const clockTicksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User plus system CPU milliseconds in a /proc stat line (utime + stime). */
function statCpuMs(stat: string): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / clockTicksPerSecond;
}

/** User plus system CPU milliseconds the process has used (all its threads), or null off Linux. */
export function processCpuMs(pid: number): number | null {
  try {
    return statCpuMs(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * CPU milliseconds of each of the process's threads by thread id, or null
 * off Linux. Node names every thread "node", so a thread is known only by
 * its id; the busiest one over a phase shows whether one thread (an HTTP
 * thread, the shard, the persistence thread) is the ceiling.
 */
export function threadCpuMs(pid: number): Map<number, number> | null {
  try {
    const times = new Map<number, number>();
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        times.set(Number(task), statCpuMs(fs.readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')));
      } catch { /* the thread exited between the listing and the read */ }
    }
    return times;
  } catch {
    return null;
  }
}

/** The process's peak resident set (VmHWM, all threads) in bytes, or null once it is gone or off Linux. */
export function peakRssBytes(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** How to start a server: `node args...` unless `command` names another program. */
export interface ServerCommand {
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** A program other than this node, e.g. redis-server. */
  command?: string;
  /** taskset CPU list (e.g. "0-3") to pin the server to, or null for none. */
  cpus?: string | null;
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
 * Spawns the server and resolves once `portOf` finds the port in a stdout
 * line; rejects (after killing the process) if that takes too long or it exits.
 */
export function startServer(server: ServerCommand,
  portOf: (line: Record<string, unknown>) => number | null): Promise<ServerProcess> {
  const { env, cwd } = server;
  const program = server.command ?? process.execPath;
  // taskset execs the program, so the child's pid is the server's own.
  const command = server.cpus ? 'taskset' : program;
  const args = server.cpus ? ['-c', server.cpus, program, ...server.args] : server.args;
  const proc = trackChild(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
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
