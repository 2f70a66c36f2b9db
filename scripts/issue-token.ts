// `node scripts/issue-token`: signs user tokens for testing a sale (a
// rehearsal, a load test, a support check) with the secret the engine uses,
// FLASH_USER_SECRET, taken from the environment only: a secret on the command
// line would show in `ps` and in shell history. The secret is never printed.
// Tokens are the contract's "v1.<userId>.<expires>.<sig>", signed by the
// engine's own signUserToken, one per line on stdout.

import { signUserToken } from '../engine/user-token';
import { EXIT_OK, optionalInt, runCommand, UsageError, type CommandSpec } from './script-cli';

/** A year: long enough for any rehearsal, short enough that a leaked test token dies. */
const TTL_SEC_MAX = 366 * 24 * 3600;
const TTL_SEC_DEFAULT = 3600;
/** One million lines (about 80 MB of tokens): a load test's user pool, not an accident. */
const COUNT_MAX = 1_000_000;
const SECRET_BYTES_MIN = 32;

const COMMAND: CommandSpec = {
  name: 'issue-token',
  usage: ['--user ID [--ttl-sec N]', '--first-user ID --count N [--ttl-sec N]'],
  description: [
    'Prints user tokens signed with FLASH_USER_SECRET, one per line: one for --user,',
    'or one each for users ID, ID+1, ... ID+N-1 with --first-user and --count.',
  ],
  flags: [
    { name: 'user', kind: 'int', value: 'ID', min: 1, help: 'The user id to sign a token for (1 .. 2^53-1).' },
    { name: 'first-user', kind: 'int', value: 'ID', min: 1, help: 'The first of --count consecutive user ids.' },
    { name: 'count', kind: 'int', value: 'N', min: 1, max: COUNT_MAX,
      help: `How many tokens to print with --first-user (at most ${COUNT_MAX}).` },
    { name: 'ttl-sec', kind: 'int', value: 'N', min: 1, max: TTL_SEC_MAX,
      help: `Seconds until the tokens expire. Default ${TTL_SEC_DEFAULT}.` },
  ],
  positionalsMax: 0,
  notes: [
    'Environment:',
    `  FLASH_USER_SECRET  the engine's user-token secret (at least ${SECRET_BYTES_MIN} bytes); ` +
      'required, never printed.',
  ],
};

function secretFrom(env: NodeJS.ProcessEnv): string {
  const secret = env.FLASH_USER_SECRET;
  if (secret === undefined || secret === '') {
    throw new UsageError('FLASH_USER_SECRET is not set; tokens must be signed with the secret the engine uses');
  }
  // The same rule as the engine's: a short secret can be brute-forced from one token.
  if (Buffer.byteLength(secret) < SECRET_BYTES_MIN) {
    throw new UsageError(`FLASH_USER_SECRET must be at least ${SECRET_BYTES_MIN} bytes long`);
  }
  return secret;
}

/** Which user ids to sign for, from --user or --first-user with --count. */
function usersOf(user: number | null, firstUser: number | null,
  count: number | null): { first: number; count: number } {
  if (user !== null && firstUser !== null) throw new UsageError('--user and --first-user cannot be used together');
  if (user !== null) {
    if (count !== null) throw new UsageError('--count goes with --first-user, not --user');
    return { first: user, count: 1 };
  }
  if (firstUser === null) throw new UsageError('--user or --first-user is required (see --help)');
  const many = count ?? 1;
  if (firstUser + many - 1 > Number.MAX_SAFE_INTEGER) {
    throw new UsageError(`--count: users ${firstUser}..${firstUser + many - 1} go past 2^53-1`);
  }
  return { first: firstUser, count: many };
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, (args) => {
    const users = usersOf(optionalInt(args, 'user'), optionalInt(args, 'first-user'), optionalInt(args, 'count'));
    const secret = secretFrom(process.env);
    const expires = Math.floor(Date.now() / 1000) + (optionalInt(args, 'ttl-sec') ?? TTL_SEC_DEFAULT);
    // Written in chunks so that a million tokens do not become one huge string.
    const chunk: string[] = [];
    for (let offset = 0; offset < users.count; offset++) {
      chunk.push(signUserToken(secret, users.first + offset, expires));
      if (chunk.length === 10_000) {
        process.stdout.write(chunk.join('\n') + '\n');
        chunk.length = 0;
      }
    }
    if (chunk.length > 0) process.stdout.write(chunk.join('\n') + '\n');
    return EXIT_OK;
  });
}
