// `node scripts/snapshot`: asks the running engine for a snapshot and prints
// the file's path. The engine is found by its pid file in the data directory
// and asked with SIGUSR2, the same signal an operator would send by hand; the
// script then waits, up to --wait-ms, for a new snapshot-*.json taken after
// the signal to appear in DATA/snapshots. The engine writes it to a .tmp
// name and renames it when complete, so a file with the final name is whole.

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { snapshotDirectory, snapshotTakenAt } from '../persistence/data-directory';
import { looksLikeEngine, readEnginePid } from './engine-pid';
import { dataDirOf, EXIT_FAILED, EXIT_OK, optionalInt, runCommand, type CommandSpec } from './script-cli';

/**
 * A minute: the writer thread took up to 4.7 s for 1.4 million orders on 2
 * busy cores; the wait ends as soon as the file appears.
 */
const WAIT_MS_DEFAULT = 60_000;
/** Ten minutes: a snapshot of the largest sale (10^8 orders of JSON) is written well within it. */
const WAIT_MS_MAX = 600_000;
const POLL_MS = 50;

const COMMAND: CommandSpec = {
  name: 'snapshot',
  usage: ['[--data DIR] [--wait-ms N]'],
  description: [
    'Sends SIGUSR2 to the engine named by DIR/engine.pid and prints the path of the snapshot',
    'it writes to DIR/snapshots. Fails (exit 1) when no engine runs there or no file appears in time.',
  ],
  flags: [
    { name: 'data', kind: 'string', value: 'DIR',
      help: "The engine's data directory. Default FLASH_DATA, else ./data." },
    { name: 'wait-ms', kind: 'int', value: 'N', min: 1, max: WAIT_MS_MAX,
      help: `How long to wait for the file, in ms. Default ${WAIT_MS_DEFAULT}.` },
  ],
  positionalsMax: 0,
};

function snapshotsIn(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir).filter((name) => !Number.isNaN(snapshotTakenAt(name))));
  } catch {
    return new Set();
  }
}

/**
 * The newest file taken at or after `sentAt`: a snapshot already being
 * written when the signal came is older than the request, and the engine
 * takes the asked-for one right after it.
 */
async function waitForNewFile(dir: string, before: Set<string>, sentAt: number,
  waitMs: number): Promise<string | null> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const fresh = [...snapshotsIn(dir)].filter((name) => !before.has(name) && snapshotTakenAt(name) >= sentAt).sort();
    if (fresh.length > 0) return path.join(dir, fresh[fresh.length - 1]!);
    if (Date.now() >= deadline) return null;
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
  }
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, async (args) => {
    const dataDir = path.resolve(dataDirOf(args, process.env));
    const waitMs = optionalInt(args, 'wait-ms') ?? WAIT_MS_DEFAULT;
    const engine = readEnginePid(dataDir);
    if (engine.pid === null) {
      process.stderr.write(`snapshot: no engine: ${engine.file} does not exist or holds no pid\n`);
      return EXIT_FAILED;
    }
    if (!engine.alive) {
      process.stderr.write(`snapshot: no engine: pid ${engine.pid} from ${engine.file} ` +
        'is not running (a stale pid file)\n');
      return EXIT_FAILED;
    }
    if (!looksLikeEngine(engine)) {
      process.stderr.write(`snapshot: pid ${engine.pid} from ${engine.file} is "${engine.command}", ` +
        'not the engine; nothing sent\n');
      return EXIT_FAILED;
    }
    const dir = snapshotDirectory(dataDir);
    const before = snapshotsIn(dir);
    // Whole milliseconds, as the engine names its files.
    const sentAt = Date.now();
    process.kill(engine.pid, 'SIGUSR2');
    const file = await waitForNewFile(dir, before, sentAt, waitMs);
    if (file === null) {
      process.stderr.write(`snapshot: sent SIGUSR2 to pid ${engine.pid} but no new snapshot appeared in ${dir} ` +
        `within ${waitMs} ms; see the engine's log ("snapshot failed")\n`);
      return EXIT_FAILED;
    }
    process.stdout.write(`${file}\n`);
    return EXIT_OK;
  });
}
