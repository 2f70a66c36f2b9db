// Command-line handling shared by the operator scripts in scripts/: flags in
// the engine's style (`--name VALUE` or `--name=VALUE`), each value checked
// against its table entry, and a --help text built from the same table so
// that the two cannot disagree.
//
// Exit codes are the same for every script, so that a cron job or a runbook
// can rely on them:
//   0  done, or the check passed
//   1  the check found a problem, or the action could not be done
//   2  the command line or the environment it needs is wrong (the message
//      names the flag or variable)

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A command line that cannot be run as given: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  name: string;
  kind: 'int' | 'string' | 'bool';
  /** What the value stands for in --help, e.g. ID, N, DIR. */
  value?: string;
  help: string;
  min?: number;
  max?: number;
}

export interface CommandSpec {
  /** The script's name, as in `node scripts/<name>`. */
  name: string;
  /** Usage lines after `node scripts/<name> `. */
  usage: string[];
  /** What the script does, in full sentences, one string per line. */
  description: string[];
  flags: FlagSpec[];
  /** Positional arguments the script accepts at most. */
  positionalsMax: number;
  /** Extra lines for --help: environment, exit codes. */
  notes?: string[];
}

export type FlagValue = number | string | boolean;

export interface ParsedArgs {
  flags: Map<string, FlagValue>;
  positionals: string[];
}

export function helpText(command: CommandSpec): string {
  const lines = command.usage.map((usage, index) =>
    `${index === 0 ? 'Usage:' : '      '} node scripts/${command.name} ${usage}`);
  lines.push('', ...command.description, '', 'Flags:');
  const named = command.flags.map((flag) =>
    [flag.kind === 'bool' ? `--${flag.name}` : `--${flag.name} ${flag.value ?? 'VALUE'}`, flag.help] as const);
  named.push(['--help', 'Print this and exit.']);
  const width = Math.max(...named.map(([name]) => name.length)) + 2;
  for (const [name, help] of named) lines.push(`  ${name.padEnd(width)}${help}`);
  if (command.notes) lines.push('', ...command.notes);
  lines.push('', 'Exit codes: 0 done or consistent; 1 the check or action failed; 2 bad flags or environment.');
  return lines.join('\n') + '\n';
}

function parseValue(spec: FlagSpec, raw: string): FlagValue {
  const source = `--${spec.name}`;
  if (spec.kind === 'int') {
    if (!/^[0-9]{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
      throw new UsageError(`${source}: expected a whole number, got "${raw}"`);
    }
    const value = Number(raw);
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      throw new UsageError(`${source}: ${value} is outside ${spec.min ?? 0}..${spec.max ?? Number.MAX_SAFE_INTEGER}`);
    }
    return value;
  }
  if (raw === '') throw new UsageError(`${source}: must not be empty`);
  return raw;
}

/** Parses argv against the command's flags; returns null when --help was asked for. */
export function parseArgs(command: CommandSpec, argv: readonly string[]): ParsedArgs | null {
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--help' || arg === '-h') return null;
    if (!arg.startsWith('--')) {
      if (positionals.length >= command.positionalsMax) {
        throw new UsageError(`unexpected argument "${arg}" (see --help)`);
      }
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const name = arg.slice(2, equals === -1 ? undefined : equals);
    const spec = command.flags.find((flag) => flag.name === name);
    if (!spec) throw new UsageError(`unknown flag --${name} (see --help)`);
    if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
    if (spec.kind === 'bool') {
      if (equals !== -1) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let raw: string;
    if (equals !== -1) raw = arg.slice(equals + 1);
    else {
      if (index + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      raw = argv[++index]!;
    }
    flags.set(name, parseValue(spec, raw));
  }
  return { flags, positionals };
}

/**
 * Runs a script body with the shared conventions: --help prints and exits 0,
 * a UsageError prints `<name>: <message>` and exits 2. Anything else thrown
 * is a bug in the script and reaches the launcher, which prints the stack.
 */
export async function runCommand(command: CommandSpec, argv: readonly string[],
  body: (args: ParsedArgs) => Promise<number> | number): Promise<number> {
  try {
    const args = parseArgs(command, argv);
    if (args === null) {
      process.stdout.write(helpText(command));
      return EXIT_OK;
    }
    return await body(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${command.name}: ${error.message}\n`);
    return EXIT_USAGE;
  }
}

/** The flag's value if it was given; the parser already checked its kind. */
export function optionalString(args: ParsedArgs, name: string): string | null {
  const value = args.flags.get(name);
  return typeof value === 'string' ? value : null;
}

export function optionalInt(args: ParsedArgs, name: string): number | null {
  const value = args.flags.get(name);
  return typeof value === 'number' ? value : null;
}

export function requiredString(args: ParsedArgs, name: string): string {
  const value = optionalString(args, name);
  if (value === null) throw new UsageError(`--${name} is required (see --help)`);
  return value;
}

/**
 * The data directory as the engine finds it: --data, else FLASH_DATA, else
 * ./data, so that a script run beside the engine looks where the engine writes.
 */
export function dataDirOf(args: ParsedArgs, env: NodeJS.ProcessEnv): string {
  const fromEnv = env.FLASH_DATA;
  return optionalString(args, 'data') ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : './data');
}
