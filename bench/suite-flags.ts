// The flags of the bench suite (bench/bench-suite.ts), each with a default
// and a bound, so that a typo cannot start a benchmark that runs for hours
// or opens more connections than the machine has ports for.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HTTP_THREADS_MAX } from './http-threads';

export interface SuiteOptions {
  quick: boolean;
  /** Scenario names to run, "growth" included; all when the flag is absent. */
  scenarios: string[] | null;
  runs: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** autocannon worker threads; helps only with cores to spare. */
  generatorWorkers: number;
  keepData: boolean;
  /** Run the engines with --fsync (a log batch is fdatasync'ed before its answers). */
  fsync: boolean;
  /** A checkout with a built engine to run beside this one (--compare DIR), or null. */
  compareRoot: string | null;
  /**
   * HTTP threads of every engine (--http-threads N) and of the bare endpoint (BARE_THREADS=N), so that
   * engine/bare is on the same number of threads; engines named w0 run --workers 1 when N > 1.
   */
  httpThreads: number;
}

/** Full mode: 3 runs of 4 s per system, about 14 minutes on 2 cores. */
const FULL = { runs: 3, durationSeconds: 4, warmupSeconds: 1 };
/** --quick: one run of 2 s per system, under two minutes on 2 cores. */
const QUICK = { runs: 1, durationSeconds: 2, warmupSeconds: 1 };

const INTEGER_FLAGS = {
  '--runs': { key: 'runs', min: 1, max: 20 },
  '--duration': { key: 'durationSeconds', min: 1, max: 120 },
  '--warmup': { key: 'warmupSeconds', min: 0, max: 30 },
  '--generator-workers': { key: 'generatorWorkers', min: 0, max: 16 },
  '--http-threads': { key: 'httpThreads', min: 1, max: HTTP_THREADS_MAX },
} as const;

export const GROWTH = 'growth';

const help = (names: readonly string[]): string =>
  `Usage: npm run bench -- [flags]    (or node dist/bench/bench-suite.js [flags])
  --quick                 1 run of 2 s per system, few growth points (under 2 minutes)
  --scenario A,B          run only these: ${[...names, GROWTH].join(', ')}
  --runs K                runs per system (default 3, quick 1); medians are reported
  --duration S            measured seconds per system and run (default 4, quick 2)
  --warmup S              uncounted warm-up seconds before each measurement (default 1)
  --generator-workers N   autocannon worker threads (default 0 on < 4 cores, else 2)
  --http-threads N        engines with --http-threads N and the bare endpoint on N threads (default 1);
                          with N > 1 the "w0" engines run --workers 1 and wrk gets max(1, generator workers) threads
  --keep-data             keep every system's temporary data directory
  --fsync                 run the engines with --fsync (group commit to disk before answering)
  --compare DIR           also run the engine built in checkout DIR (npm ci or npm run build done there)
                          after each engine system, and report "vs compare": this build's req/s over it
`;

class FlagError extends Error {}

function integer(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || !/^[0-9]+$/.test(raw)) throw new FlagError(`${flag} needs a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new FlagError(`${flag}: ${value} is outside ${min}..${max}`);
  return value;
}

function scenarioList(raw: string | undefined, names: readonly string[]): string[] {
  if (raw === undefined) throw new FlagError('--scenario needs a list like hot-small,read-storm');
  const list = raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = list.filter((name) => name !== GROWTH && !names.includes(name));
  if (unknown.length > 0) {
    throw new FlagError(`--scenario: unknown ${unknown.join(', ')}; known: ${[...names, GROWTH].join(', ')}`);
  }
  return list;
}

/** The --compare checkout, resolved; it must hold a built engine. */
function compareRoot(raw: string | undefined): string {
  if (raw === undefined) throw new FlagError('--compare needs the directory of another checkout');
  const root = path.resolve(raw);
  if (!fs.existsSync(path.join(root, 'dist', 'engine', 'main.js'))) {
    throw new FlagError(`--compare: ${root} has no built engine (dist/engine/main.js)`);
  }
  return root;
}

/**
 * `--name N` of a single-purpose benchmark (ws-start-push, hot-item-isolation,
 * challenge-spread), or `fallback` when absent; a value that is not a
 * positive number stops the run.
 */
export function numberFlag(argv: readonly string[], name: string, fallback: number): number {
  const at = argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(argv[at + 1]);
  if (!(value > 0)) throw new Error(`--${name}: expected a positive number, got "${argv[at + 1] ?? ''}"`);
  return value;
}

/** Reads the flags; null after printing --help. Exits 2 on a bad flag. */
export function parseSuiteFlags(argv: readonly string[], scenarioNames: readonly string[]): SuiteOptions | null {
  const given: Partial<SuiteOptions> = {};
  let quick = false;
  try {
    for (let index = 0; index < argv.length; index++) {
      const flag = argv[index]!;
      if (flag === '--help' || flag === '-h') {
        process.stdout.write(help(scenarioNames));
        return null;
      }
      if (flag === '--quick') quick = true;
      else if (flag === '--keep-data') given.keepData = true;
      else if (flag === '--fsync') given.fsync = true;
      else if (flag === '--compare') given.compareRoot = compareRoot(argv[++index]);
      else if (flag === '--scenario') given.scenarios = scenarioList(argv[++index], scenarioNames);
      else if (flag in INTEGER_FLAGS) {
        const spec = INTEGER_FLAGS[flag as keyof typeof INTEGER_FLAGS];
        given[spec.key] = integer(flag, argv[++index], spec.min, spec.max);
      } else throw new FlagError(`unknown flag ${flag} (see --help)`);
    }
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(2);
  }
  const defaults = {
    ...(quick ? QUICK : FULL), generatorWorkers: os.availableParallelism() >= 4 ? 2 : 0, keepData: false, fsync: false,
    scenarios: null, compareRoot: null, httpThreads: 1,
  };
  return { ...defaults, ...given, quick };
}
