// Proves how the engine reads its configuration: defaults with no flags and
// no environment, every FLASH_* variable sets the same value as its flag
// (pairs taken from helpText itself, so help and parser cannot drift apart),
// a flag wins over its variable, both --flag=value and --flag value work, and
// each bad input throws a ConfigError naming the flag or variable: unknown
// flag, missing value, not a whole number, one past each end of a range, a
// ring size that is not a power of two, a bad choice or boolean, and a
// secret shorter than 32 bytes. --help and -h return null.

import t from 'tap';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, defaultConfig, helpText, parseConfig, type EngineConfig } from '../../engine/config';
import { RING_SLOTS_DEFAULT, RING_SLOTS_MAX } from '../../engine/constants';

const SECRET_32 = 's'.repeat(32);

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): EngineConfig {
  const config = parseConfig(argv, env);
  if (config === null) throw new Error('unexpected --help');
  return config;
}

/** Every flag with a valid value that differs from its default. */
const SAMPLES: Record<string, [keyof EngineConfig, string, unknown]> = {
  port: ['port', '4321', 4321],
  host: ['host', '0.0.0.0', '0.0.0.0'],
  data: ['dataDir', '/tmp/flash-data', '/tmp/flash-data'],
  sale: ['saleFile', '/tmp/sale.json', '/tmp/sale.json'],
  workers: ['workers', '3', 3],
  // Alone (no --workers) only 1 is valid on a machine of up to 2 cores; the default there too.
  'http-threads': ['httpThreads', '1', 1],
  fsync: ['fsync', 'true', true],
  'log-level': ['logLevel', 'debug', 'debug'],
  'demo-start-sec': ['demoStartSec', '5', 5],
  'ring-slots': ['ringSlots', '1024', 1024],
  'trusted-proxy-header': ['trustedProxyHeader', 'X-Real-IP', 'x-real-ip'],
  'rate-exempt': ['rateExempt', '100.64.0.0/10,2001:db8::/32', '100.64.0.0/10,2001:db8::/32'],
  'rate-user-per-sec': ['rateUserPerSec', '7', 7],
  'rate-user-burst': ['rateUserBurst', '20', 20],
  'rate-address-per-sec': ['rateAddressPerSec', '300', 300],
  'rate-address-burst': ['rateAddressBurst', '600', 600],
  'shed-lag-ms': ['shedLagMs', '150', 150],
  'challenge-think-ms': ['challengeThinkMs', '1500', 1500],
  'challenge-ttl-sec': ['challengeTtlSec', '60', 60],
  'ws-max-connections': ['wsMaxConnections', '5000', 5000],
  'ws-max-per-address': ['wsMaxPerAddress', '50', 50],
  'ws-idle-sec': ['wsIdleSec', '60', 60],
  'max-url-bytes': ['maxUrlBytes', '4096', 4096],
  'max-header-bytes': ['maxHeaderBytes', '16384', 16384],
  'snapshot-keep': ['snapshotKeep', '3', 3],
  webhook: ['webhook', 'https://shop.example/flash-events', 'https://shop.example/flash-events'],
  'suspect-address-users': ['suspectAddressUsers', '25', 25],
};

/** [flag, variable] pairs as helpText lists them. */
function helpPairs(): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const match of helpText().matchAll(/^ {2}--([a-z-]+)(?: (?:N|VALUE))?\s+(FLASH_[A-Z_]+)\s/gm)) {
    pairs.push([match[1]!, match[2]!]);
  }
  return pairs;
}

t.test('with no flags and no environment every value is its default', async (t) => {
  const config = parse([]);
  t.same(config, { ...defaultConfig(), dataDir: path.resolve('./data') });
  t.equal(config.port, 3000);
  t.equal(config.host, '127.0.0.1');
  t.equal(config.saleFile, null);
  t.equal(config.fsync, false);
  t.equal(config.logLevel, 'info');
  t.equal(config.demoStartSec, 20);
  t.equal(config.ringSlots, RING_SLOTS_DEFAULT);
  t.equal(config.userSecret, null);
  t.equal(config.ticketSecret, null);
  const cores = os.availableParallelism();
  t.equal(config.workers, cores <= 2 ? 0 : Math.floor(cores / 2), 'workers follow the number of cores');
});

t.test('--http-threads: the cores the workers leave by default, 1 without workers, and never above 1 then',
  async (t) => {
  const cores = os.availableParallelism();
  t.equal(parse(['--workers', '0']).httpThreads, 1, 'the inline shard: one HTTP thread');
  t.equal(parse(['--workers', '1']).httpThreads, Math.min(16, Math.max(1, cores - 1)), 'the cores one worker leaves');
  t.equal(parse(['--workers', '64']).httpThreads, 1, 'at least one');
  t.equal(parse(['--workers', '2', '--http-threads', '16']).httpThreads, 16, 'up to 16');
  t.equal(parse([], { FLASH_WORKERS: '2', FLASH_HTTP_THREADS: '3' }).httpThreads, 3, 'from the environment');
  t.throws(() => parse(['--workers', '2', '--http-threads', '17']),
    { constructor: ConfigError, message: '--http-threads: 17 is outside 1..16' });
  t.throws(() => parse(['--workers', '2', '--http-threads', '0']),
    { constructor: ConfigError, message: '--http-threads: 0 is outside 1..16' });
  t.throws(() => parse(['--workers', '0', '--http-threads', '2']),
    { constructor: ConfigError, message: '--http-threads 2 needs shard workers (--workers 1 or more)' });
});

t.test('helpText lists every flag with its FLASH_* variable, --help, and the secret variables', async (t) => {
  const text = helpText();
  const pairs = helpPairs();
  t.same(pairs.map(([flag]) => flag).sort(), Object.keys(SAMPLES).sort(), 'exactly the known flags are listed');
  for (const [flag, env] of pairs) {
    t.equal(env, `FLASH_${flag.toUpperCase().replace(/-/g, '_')}`, `--${flag} is paired with ${env}`);
  }
  t.match(text, /^ {2}--help\s/m, '--help is listed');
  t.match(text, /^ {2}FLASH_USER_SECRET\s+\S/m, 'FLASH_USER_SECRET is listed with help');
  t.match(text, /^ {2}FLASH_TICKET_SECRET\s+\S/m, 'FLASH_TICKET_SECRET is listed with help');
  t.ok(text.endsWith('\n'));
});

t.test('each variable helpText names sets the same value as its flag, in both flag forms', async (t) => {
  for (const [flag, env] of helpPairs()) {
    const [key, raw, want] = SAMPLES[flag]!;
    t.equal(parse([], { [env]: raw })[key], want, `${env}=${raw}`);
    t.equal(parse([`--${flag}=${raw}`])[key], want, `--${flag}=${raw}`);
    if (flag !== 'fsync') t.equal(parse([`--${flag}`, raw])[key], want, `--${flag} ${raw}`);
  }
});

t.test('a flag wins over its environment variable', async (t) => {
  t.equal(parse(['--port', '5000'], { FLASH_PORT: '4000' }).port, 5000);
  t.equal(parse(['--port=5000'], { FLASH_PORT: '4000' }).port, 5000);
  t.equal(parse(['--log-level=warn'], { FLASH_LOG_LEVEL: 'debug' }).logLevel, 'warn');
  t.equal(parse(['--fsync=false'], { FLASH_FSYNC: 'true' }).fsync, false);
  t.equal(parse([], { FLASH_PORT: '4000' }).port, 4000, 'the variable applies when the flag is absent');
  t.equal(parse(['--port=1', '--port=2']).port, 2, 'the last of a repeated flag wins');
});

t.test('boolean flags take no separate value and read the usual words', async (t) => {
  t.equal(parse(['--fsync']).fsync, true);
  for (const word of ['1', 'true', 'yes', 'on']) t.equal(parse([`--fsync=${word}`]).fsync, true, `"${word}" is true`);
  for (const word of ['0', 'false', 'no', 'off']) {
    t.equal(parse([], { FLASH_FSYNC: word }).fsync, false, `"${word}" is false`);
  }
  t.throws(() => parse(['--fsync=maybe']),
    { constructor: ConfigError, message: '--fsync: expected true or false, got "maybe"' });
  t.throws(() => parse([], { FLASH_FSYNC: 'TRUE' }), { constructor: ConfigError, message: /^FLASH_FSYNC: / },
    'the variable is named');
  t.throws(() => parse(['--fsync', 'false']), { constructor: ConfigError, message: /unexpected argument "false"/ },
    'a separate value is a stray argument');
});

t.test('--help and -h return null', async (t) => {
  t.equal(parseConfig(['--help'], {}), null);
  t.equal(parseConfig(['-h'], {}), null);
  t.equal(parseConfig(['--port', '80', '--help'], {}), null, 'after other flags too');
});

t.test('--rate-exempt takes CIDR ranges and single addresses, and throws a ConfigError for anything else',
  async (t) => {
  t.equal(parse(['--rate-exempt', '10.0.0.7, 192.168.0.0/16']).rateExempt, '10.0.0.7, 192.168.0.0/16',
    'a single address and a range');
  t.equal(parse([]).rateExempt, null, 'none by default');
  t.throws(() => parse(['--rate-exempt', '10.0.0.0/8,example.com']),
    { constructor: ConfigError, message: '--rate-exempt: not an IP address: example.com' });
  t.throws(() => parse(['--rate-exempt', '10.0.0.0/40']),
    { constructor: ConfigError, message: '--rate-exempt: bad prefix length in 10.0.0.0/40' });
  t.throws(() => parse(['--rate-exempt', '10.0.0.0/8,']),
    { constructor: ConfigError, message: /^--rate-exempt: not an IP address/ }, 'an empty entry');
  const many = Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`).join(',');
  t.throws(() => parse(['--rate-exempt', many]),
    { constructor: ConfigError, message: '--rate-exempt: 65 ranges, at most 64' });
});

t.test('unknown flags and stray arguments throw a ConfigError naming them', async (t) => {
  t.throws(() => parse(['--colour=red']), { constructor: ConfigError, message: 'unknown flag --colour (see --help)' });
  t.throws(() => parse(['--Port=1']), { constructor: ConfigError, message: /unknown flag --Port/ },
    'flags are case-sensitive');
  t.throws(() => parse(['--user-secret=x']), { constructor: ConfigError, message: /unknown flag --user-secret/ },
    'secrets are not flags');
  t.throws(() => parse(['port=1']), { constructor: ConfigError, message: 'unexpected argument "port=1" (see --help)' });
  t.throws(() => parse(['-p', '1']), { constructor: ConfigError, message: /unexpected argument "-p"/ });
});

t.test('a flag without its value throws a ConfigError naming the flag', async (t) => {
  for (const flag of ['port', 'host', 'data', 'sale', 'workers', 'log-level', 'demo-start-sec', 'ring-slots']) {
    t.throws(() => parse([`--${flag}`]), { constructor: ConfigError, message: `--${flag} needs a value` },
      `--${flag} at the end`);
  }
  t.throws(() => parse(['--host=']), { constructor: ConfigError, message: '--host: must not be empty' });
  // An environment variable set to nothing counts as unset (like the secrets), so FLASH_FSYNC= does not turn fsync on.
  t.equal(parse([], { FLASH_DATA: '' })!.dataDir, path.resolve('./data'), 'FLASH_DATA= means the default');
  t.equal(parse([], { FLASH_FSYNC: '' })!.fsync, false, 'FLASH_FSYNC= means off');
});

t.test('number flags refuse anything but a whole number', async (t) => {
  for (const raw of ['abc', '1.5', '-1', '+1', ' 1', '1e3', '0x10', '']) {
    t.throws(() => parse([`--port=${raw}`]),
      { constructor: ConfigError, message: `--port: expected a whole number, got "${raw}"` }, `--port=${raw}`);
  }
  t.throws(() => parse([], { FLASH_WORKERS: 'many' }),
    { constructor: ConfigError, message: /^FLASH_WORKERS: expected a whole number/ });
});

t.test('number flags accept both ends of their range and refuse one past either end', async (t) => {
  const ranges: Array<[string, keyof EngineConfig, number, number]> = [
    ['port', 'port', 0, 65535],
    ['workers', 'workers', 0, 64],
    ['demo-start-sec', 'demoStartSec', 0, 86400],
    ['ring-slots', 'ringSlots', 1, RING_SLOTS_MAX],
    ['snapshot-keep', 'snapshotKeep', 0, 10_000],
    ['suspect-address-users', 'suspectAddressUsers', 2, 1_000_000],
  ];
  for (const [flag, key, min, max] of ranges) {
    t.equal(parse([`--${flag}=${min}`])[key], min, `--${flag}=${min}`);
    t.equal(parse([`--${flag}=${max}`])[key], max, `--${flag}=${max}`);
    t.throws(() => parse([`--${flag}=${max + 1}`]),
      { constructor: ConfigError, message: `--${flag}: ${max + 1} is outside ${min}..${max}` });
    if (min > 0) {
      t.throws(() => parse([`--${flag}=${min - 1}`]),
        { constructor: ConfigError, message: `--${flag}: ${min - 1} is outside ${min}..${max}` });
    }
  }
  t.throws(() => parse([], { FLASH_PORT: '70000' }),
    { constructor: ConfigError, message: 'FLASH_PORT: 70000 is outside 0..65535' });
});

t.test('ring slots must be a power of two', async (t) => {
  for (const slots of [1, 2, 4096, RING_SLOTS_MAX]) {
    t.equal(parse([`--ring-slots=${slots}`]).ringSlots, slots, `${slots} is accepted`);
  }
  for (const slots of [3, 6, 1000, RING_SLOTS_MAX - 1]) {
    t.throws(() => parse(['--ring-slots', String(slots)]),
      { constructor: ConfigError, message: `--ring-slots: ${slots} is not a power of two` });
  }
  t.throws(() => parse([], { FLASH_RING_SLOTS: '12' }),
    { constructor: ConfigError, message: /ring-slots: 12 is not a power of two/ });
});

t.test('log level must be one of pino\'s levels', async (t) => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
    t.equal(parse([`--log-level=${level}`]).logLevel, level);
  }
  t.throws(() => parse(['--log-level=loud']), {
    constructor: ConfigError,
    message: /^--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/,
  });
  t.throws(() => parse(['--log-level=INFO']), { constructor: ConfigError, message: /^--log-level: / });
});

t.test('paths are made absolute', async (t) => {
  const config = parse(['--data', 'rel/data', '--sale=rel/sale.json']);
  t.equal(config.dataDir, path.resolve('rel/data'));
  t.equal(config.saleFile, path.resolve('rel/sale.json'));
});

t.test('secrets come from the environment and must be at least 32 bytes', async (t) => {
  for (const name of ['FLASH_USER_SECRET', 'FLASH_TICKET_SECRET'] as const) {
    const key = name === 'FLASH_USER_SECRET' ? 'userSecret' : 'ticketSecret';
    t.equal(parse([], { [name]: SECRET_32 })[key], SECRET_32, `${name} of 32 bytes is accepted`);
    t.equal(parse([], { [name]: 'é'.repeat(16) })[key], 'é'.repeat(16),
      `${name} of 16 two-byte characters is 32 bytes`);
    t.throws(() => parse([], { [name]: 's'.repeat(31) }),
      { constructor: ConfigError, message: `${name} must be at least 32 bytes long` }, `${name} of 31 bytes`);
    t.throws(() => parse([], { [name]: 'é'.repeat(15) + 'x' }),
      { constructor: ConfigError, message: new RegExp(name) }, `${name} of 31 bytes in 16 characters`);
    t.equal(parse([], { [name]: '' })[key], null, `an empty ${name} means unset`);
  }
});
