// The engine's pid file, DATA/engine.pid, as the scripts read it: the engine
// writes it at start-up as its lock on the data directory and removes it
// after a clean stop, so a file left behind names a process that died (kill
// -9, a crash) and whose pid the system may since have given to another
// program. Scripts that signal the engine therefore check that the process
// looks like the engine before sending anything: SIGUSR2's default action
// kills a process that does not handle it.

import fs from 'node:fs';
import { pidFile } from '../persistence/data-directory';

export interface EnginePid {
  file: string;
  /** The pid in the file, or null when there is no file or it holds no pid. */
  pid: number | null;
  /** A process with that pid exists (possibly another user's). */
  alive: boolean;
  /** Its command line from /proc, or null where that cannot be read. */
  command: string | null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part !== '').join(' ');
  } catch {
    return null;
  }
}

export function readEnginePid(dataDir: string): EnginePid {
  const file = pidFile(dataDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { file, pid: null, alive: false, command: null };
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return { file, pid: null, alive: false, command: null };
  const alive = isAlive(pid);
  return { file, pid, alive, command: alive ? commandOf(pid) : null };
}

/**
 * True when the process's command line says it is the engine (`node
 * engine/start`), or when the command line cannot be read (no /proc): then
 * the pid file is all there is to go on.
 */
export function looksLikeEngine(found: EnginePid): boolean {
  return found.command === null || /engine[\\/]start\b|engine[\\/]main(\.js)?\b/.test(found.command);
}
