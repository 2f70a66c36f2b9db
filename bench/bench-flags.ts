// The flags of bench/buy-throughput.ts, each with a default and a bound, so
// that a typo cannot start a benchmark that runs for hours or opens more
// connections than the machine has ports for.

import { TOKEN_MODES, type TokenMode } from './load-generator';

export interface BenchOptions {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  runs: number;
  workersList: number[];
  users: number;
  tokenMode: TokenMode;
  generator: Generator;
  keepData: boolean;
  /** Run the engines with --fsync (a batch is fdatasync'ed before its answers). */
  fsync: boolean;
}

export type Generator = 'autocannon' | 'wrk';
const GENERATORS: readonly Generator[] = ['autocannon', 'wrk'];

const DEFAULTS: BenchOptions = {
  durationSeconds: 10, warmupSeconds: 2, connections: 100, runs: 3, workersList: [0, 2], users: 1_000, tokenMode: 'prebuilt', generator: 'autocannon', keepData: false, fsync: false,
};
/** --quick: one short run, for a smoke test of the whole pipeline. */
const QUICK: Partial<BenchOptions> = { runs: 1, durationSeconds: 5 };

const INTEGER_FLAGS = {
  '--duration': { key: 'durationSeconds', min: 1, max: 600 },
  '--warmup': { key: 'warmupSeconds', min: 0, max: 60 },
  '--connections': { key: 'connections', min: 1, max: 10_000 },
  '--runs': { key: 'runs', min: 1, max: 20 },
  '--users': { key: 'users', min: 1, max: 1_000_000 },
} as const;

const WORKERS_MAX = 64;
const SYSTEMS_MAX = 8;

const HELP = `Usage: node dist/bench/buy-throughput.js [flags]
  --duration S           measured seconds per system and run (default 10, quick 5)
  --warmup S             uncounted warm-up seconds before each measurement (default 2)
  --connections N        autocannon connections, pipelining 1 (default 100)
  --runs K               runs; each measures every system (default 3, quick 1)
  --workers-list A,B     engine --workers values to measure (default 0,2)
  --users N              distinct user tokens rotated over (default 1000)
  --tokens MODE          autocannon token rotation: prebuilt (default) or setup-request
  --generator NAME       autocannon (default) or wrk (needs wrk installed; uses bench/wrk-buy.lua)
  --keep-data            keep the engines' temporary data directories
  --fsync                run the engines with --fsync (group commit to disk before answering)
  --quick                1 run of 5 s
`;

class FlagError extends Error {}

function integer(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || !/^[0-9]+$/.test(raw)) throw new FlagError(`${flag} needs a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new FlagError(`${flag}: ${value} is outside ${min}..${max}`);
  return value;
}

function workersList(raw: string | undefined): number[] {
  if (raw === undefined) throw new FlagError('--workers-list needs a value like 0,2');
  const list = raw.split(',').map((part) => integer('--workers-list', part.trim(), 0, WORKERS_MAX));
  if (list.length > SYSTEMS_MAX) throw new FlagError(`--workers-list: at most ${SYSTEMS_MAX} values`);
  return list;
}

/** Reads the flags; null after printing --help. Exits 2 on a bad flag. */
export function parseFlags(argv: readonly string[]): BenchOptions | null {
  const given: Partial<Record<keyof BenchOptions, unknown>> = {};
  let quick = false;
  try {
    for (let index = 0; index < argv.length; index++) {
      const flag = argv[index]!;
      if (flag === '--help' || flag === '-h') {
        process.stdout.write(HELP);
        return null;
      }
      if (flag === '--quick') quick = true;
      else if (flag === '--keep-data') given.keepData = true;
      else if (flag === '--fsync') given.fsync = true;
      else if (flag === '--workers-list') given.workersList = workersList(argv[++index]);
      else if (flag === '--tokens') {
        const mode = argv[++index] as TokenMode;
        if (!TOKEN_MODES.includes(mode)) throw new FlagError(`--tokens: expected one of ${TOKEN_MODES.join(', ')}`);
        given.tokenMode = mode;
      } else if (flag === '--generator') {
        const generator = argv[++index] as Generator;
        if (!GENERATORS.includes(generator)) throw new FlagError(`--generator: expected one of ${GENERATORS.join(', ')}`);
        given.generator = generator;
      } else if (flag in INTEGER_FLAGS) {
        const spec = INTEGER_FLAGS[flag as keyof typeof INTEGER_FLAGS];
        given[spec.key] = integer(flag, argv[++index], spec.min, spec.max);
      } else throw new FlagError(`unknown flag ${flag} (see --help)`);
    }
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    process.stderr.write(`buy-throughput: ${error.message}\n`);
    process.exit(2);
  }
  return { ...DEFAULTS, ...(quick ? QUICK : {}), ...given } as BenchOptions;
}
