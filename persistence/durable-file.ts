// Writing a whole file so that a reader finds either the old file or the
// complete new one, never a part: the bytes go to <file>.tmp, are fsynced,
// and the temporary file is renamed over the name (an atomic step). Used for
// settlement reports and snapshots; the write-behind log has its own,
// append-only discipline.

import fs from 'node:fs';

/** The name a file has while it is being written; readers and pruning skip it. */
export const IN_PROGRESS_SUFFIX = '.tmp';

/**
 * Writes `file` through `fill`, which writes to the open descriptor it is
 * given. On any error the temporary file is removed and the error thrown;
 * the old `file`, if any, is untouched.
 */
export function writeFileDurably(file: string, fill: (fd: number) => void): void {
  const temporary = file + IN_PROGRESS_SUFFIX;
  const fd = fs.openSync(temporary, 'w');
  try {
    fill(fd);
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  fs.renameSync(temporary, file);
}

/** Writes `text` to `file` durably (see writeFileDurably). */
export function writeTextDurably(file: string, text: string): void {
  writeFileDurably(file, (fd) => {
    fs.writeSync(fd, text);
  });
}

/** Makes a new or removed directory entry durable (needed with --fsync). */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
