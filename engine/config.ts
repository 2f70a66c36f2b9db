// Engine configuration: every flag has a FLASH_* environment variable, a
// default and a check. A bad value stops start-up with a message naming the
// flag. The table below is the one description of the flags: `--help` prints
// it, and `node scripts/flag-table` writes it as the Markdown table of
// docs/operations.md (a unit test fails when the two differ). Secrets come
// only from the environment, never from flags, because flags show up in `ps`.

import os from 'node:os';
import path from 'node:path';
import { parseRange } from './ban-list';
import { PRODUCERS_MAX, RATE_EXEMPT_RANGES_MAX, RING_SLOTS_DEFAULT, RING_SLOTS_MAX } from './constants';

export interface EngineConfig {
  port: number;
  host: string;
  dataDir: string;
  saleFile: string | null;
  workers: number;
  httpThreads: number;
  fsync: boolean;
  logLevel: string;
  demoStartSec: number;
  ringSlots: number;
  challengeThinkMs: number;
  challengeTtlSec: number;
  wsMaxConnections: number;
  wsMaxPerAddress: number;
  wsIdleSec: number;
  maxUrlBytes: number;
  maxHeaderBytes: number;
  trustedProxyHeader: string | null;
  /** Comma-separated address ranges (CIDR) exempt from the per-address limits, or null. */
  rateExempt: string | null;
  rateUserPerSec: number;
  rateUserBurst: number;
  rateAddressPerSec: number;
  rateAddressBurst: number;
  shedLagMs: number;
  /** Distinct users at which a client address block (/24, /64) is listed as suspect. */
  suspectAddressUsers: number;
  /** Newest snapshot files kept in DATA/snapshots; older ones are removed after each snapshot (0: keep all). */
  snapshotKeep: number;
  userSecret: string | null;
  ticketSecret: string | null;
  adminToken: string | null;
  /** Where the webhook sender POSTs the outcome stream (http: or https:), or null for none. */
  webhook: string | null;
  /** Signs each webhook body (HMAC-SHA256), or null for unsigned bodies. */
  webhookSecret: string | null;
}

type Kind = 'int' | 'string' | 'bool';

interface FlagSpec {
  flag: string;
  env: string;
  key: keyof EngineConfig;
  kind: Kind;
  help: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

const FLAGS: readonly FlagSpec[] = [
  { flag: 'port', env: 'FLASH_PORT', key: 'port', kind: 'int', min: 0, max: 65535,
    help: 'TCP port to listen on (0 picks a free one). Default 3000.' },
  { flag: 'host', env: 'FLASH_HOST', key: 'host', kind: 'string',
    help: 'Address to listen on. Default 127.0.0.1; use 0.0.0.0 behind a load balancer.' },
  { flag: 'data', env: 'FLASH_DATA', key: 'dataDir', kind: 'string',
    help: 'Data directory: SQLite file, write-behind log, snapshots. Default ./data.' },
  { flag: 'sale', env: 'FLASH_SALE', key: 'saleFile', kind: 'string',
    help: 'Sale definition JSON to load (merged into the database; sold units are kept).' },
  { flag: 'workers', env: 'FLASH_WORKERS', key: 'workers', kind: 'int', min: 0, max: 64,
    help: 'Shard worker threads; 0 runs one shard inline on the main thread. ' +
      'Default 0 on machines with up to 2 cores, else half the cores.' },
  { flag: 'http-threads', env: 'FLASH_HTTP_THREADS', key: 'httpThreads', kind: 'int', min: 1, max: PRODUCERS_MAX,
    help: 'HTTP threads sharing the port, each serving the whole shopper path; above 1 needs --workers 1 or more. ' +
      `Default: the cores the shard workers leave (1 to ${PRODUCERS_MAX}); 1 with --workers 0.` },
  { flag: 'fsync', env: 'FLASH_FSYNC', key: 'fsync', kind: 'bool',
    help: 'fdatasync each log batch before answering (durable against power loss, group commit). Default off.' },
  { flag: 'log-level', env: 'FLASH_LOG_LEVEL', key: 'logLevel', kind: 'string',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'pino log level. Default info.' },
  { flag: 'demo-start-sec', env: 'FLASH_DEMO_START_SEC', key: 'demoStartSec', kind: 'int', min: 0, max: 86400,
    help: 'Seconds after boot at which the embedded demo sale starts. Default 20.' },
  { flag: 'trusted-proxy-header', env: 'FLASH_TRUSTED_PROXY_HEADER', key: 'trustedProxyHeader', kind: 'string',
    help: 'Behind a proxy: the header it sets to the client address (e.g. x-forwarded-for; its last entry is used). ' +
      'Unset: the socket address.' },
  { flag: 'rate-user-per-sec', env: 'FLASH_RATE_USER_PER_SEC', key: 'rateUserPerSec', kind: 'int',
    min: 0, max: 1_000_000,
    help: 'Buys per second one user may make (token bucket; 0 turns the limit off). Default 5.' },
  { flag: 'rate-user-burst', env: 'FLASH_RATE_USER_BURST', key: 'rateUserBurst', kind: 'int',
    min: 1, max: 1_000_000,
    help: 'Buys a user may make at once before the rate applies. Default 10.' },
  { flag: 'rate-address-per-sec', env: 'FLASH_RATE_ADDRESS_PER_SEC', key: 'rateAddressPerSec', kind: 'int',
    min: 0, max: 10_000_000,
    help: 'Buys per second from one client address (0: off). ' +
      'Default 2000, since a NAT can hide thousands of shoppers.' },
  { flag: 'rate-exempt', env: 'FLASH_RATE_EXEMPT', key: 'rateExempt', kind: 'string',
    help: `Address ranges (CIDR, comma-separated, at most ${RATE_EXEMPT_RANGES_MAX}) exempt from the per-address ` +
      `limits (buys per second, WebSockets per address), e.g. a carrier's NAT; the per-user limits still apply. ` +
      'Default none.' },
  { flag: 'rate-address-burst', env: 'FLASH_RATE_ADDRESS_BURST', key: 'rateAddressBurst', kind: 'int',
    min: 1, max: 10_000_000,
    help: 'Buys one address may make at once before the rate applies. Default 4000.' },
  { flag: 'shed-lag-ms', env: 'FLASH_SHED_LAG_MS', key: 'shedLagMs', kind: 'int', min: 0, max: 60_000,
    help: 'Event-loop lag past which buys are refused 503 overloaded until it halves (0: off). Default 200.' },
  { flag: 'suspect-address-users', env: 'FLASH_SUSPECT_ADDRESS_USERS', key: 'suspectAddressUsers', kind: 'int',
    min: 2, max: 1_000_000,
    help: 'Distinct users seen from one address block (/24 IPv4, /64 IPv6) at which GET /admin/signals lists it ' +
      'as suspect. Default 10.' },
  { flag: 'ring-slots', env: 'FLASH_RING_SLOTS', key: 'ringSlots', kind: 'int', min: 1, max: RING_SLOTS_MAX,
    help: 'In-flight buys per shard (power of two); past it buys get 503 overloaded. ' +
      `Default ${RING_SLOTS_DEFAULT}.` },
  { flag: 'challenge-think-ms', env: 'FLASH_CHALLENGE_THINK_MS', key: 'challengeThinkMs', kind: 'int',
    min: 0, max: 600_000,
    help: 'A challenge answered sooner than this after it was issued is refused (a bot, not a human). Default 1000.' },
  { flag: 'challenge-ttl-sec', env: 'FLASH_CHALLENGE_TTL_SEC', key: 'challengeTtlSec', kind: 'int', min: 1, max: 3600,
    help: 'Seconds a challenge stays answerable. Default 120.' },
  { flag: 'ws-max-connections', env: 'FLASH_WS_MAX_CONNECTIONS', key: 'wsMaxConnections', kind: 'int',
    min: 0, max: 1_000_000,
    help: 'Open WebSocket connections at most; past it an upgrade gets 503 overloaded. Default 100000.' },
  { flag: 'ws-max-per-address', env: 'FLASH_WS_MAX_PER_ADDRESS', key: 'wsMaxPerAddress', kind: 'int',
    min: 0, max: 1_000_000,
    help: 'Open WebSocket connections one client address may hold; past it an upgrade gets 429 rate_limited ' +
      '(0: no limit). Default 1000, since a NAT can hide many shoppers.' },
  { flag: 'ws-idle-sec', env: 'FLASH_WS_IDLE_SEC', key: 'wsIdleSec', kind: 'int', min: 8, max: 960,
    help: 'Seconds a WebSocket may stay silent; the engine pings it, and closes it if no pong comes. Default 120.' },
  { flag: 'max-url-bytes', env: 'FLASH_MAX_URL_BYTES', key: 'maxUrlBytes', kind: 'int', min: 0, max: 65_536,
    help: 'Longest request URL (path and query); longer gets 414 url_too_long (0: off). Default 2048.' },
  { flag: 'snapshot-keep', env: 'FLASH_SNAPSHOT_KEEP', key: 'snapshotKeep', kind: 'int', min: 0, max: 10_000,
    help: 'Newest snapshot files kept in DATA/snapshots; after each snapshot older ones are removed (0: keep all). ' +
      'Default 10.' },
  { flag: 'max-header-bytes', env: 'FLASH_MAX_HEADER_BYTES', key: 'maxHeaderBytes', kind: 'int', min: 0, max: 65_536,
    help: 'Largest request header block (names and values); larger gets 431 headers_too_large (0: off). ' +
      'Default 8192.' },
  { flag: 'webhook', env: 'FLASH_WEBHOOK', key: 'webhook', kind: 'string',
    help: 'http:// or https:// URL the outcome stream is POSTed to, in order, at least once per event ' +
      '(batches of NDJSON, retried with backoff). Default none.' },
];

const ENV_ONLY: readonly [string, string][] = [
  ['FLASH_USER_SECRET', 'Secret shared with the shop to sign user tokens (at least 32 bytes). ' +
    'Unset: demo mode with a random per-boot secret and GET /api/demo/token.'],
  ['FLASH_TICKET_SECRET', 'Secret that derives buy tickets (at least 32 bytes). ' +
    'Unset: a random one kept in the database.'],
  ['FLASH_ADMIN_TOKEN', 'Bearer token of the admin API under /admin/ (at least 32 bytes). ' +
    'Unset: the admin API does not exist.'],
  ['FLASH_WEBHOOK_SECRET', 'Secret that signs each webhook body: X-Flash-Signature: sha256=<hex HMAC> ' +
    '(at least 32 bytes). Unset: bodies are not signed.'],
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const DEFAULT_WORKERS = os.availableParallelism() <= 2 ? 0 : Math.floor(os.availableParallelism() / 2);

/** The cores the shard workers leave, within 1..PRODUCERS_MAX; 1 with no workers (the inline shard). */
function defaultHttpThreads(workers: number): number {
  if (workers === 0) return 1;
  return Math.min(PRODUCERS_MAX, Math.max(1, os.availableParallelism() - workers));
}

export function defaultConfig(): EngineConfig {
  return {
    port: 3000,
    host: '127.0.0.1',
    dataDir: './data',
    saleFile: null,
    workers: DEFAULT_WORKERS,
    httpThreads: defaultHttpThreads(DEFAULT_WORKERS),
    fsync: false,
    logLevel: 'info',
    demoStartSec: 20,
    ringSlots: RING_SLOTS_DEFAULT,
    challengeThinkMs: 1000,
    challengeTtlSec: 120,
    wsMaxConnections: 100_000,
    wsMaxPerAddress: 1000,
    wsIdleSec: 120,
    maxUrlBytes: 2048,
    maxHeaderBytes: 8192,
    trustedProxyHeader: null,
    rateExempt: null,
    rateUserPerSec: 5,
    rateUserBurst: 10,
    rateAddressPerSec: 2000,
    rateAddressBurst: 4000,
    shedLagMs: 200,
    suspectAddressUsers: 10,
    snapshotKeep: 10,
    userSecret: null,
    ticketSecret: null,
    adminToken: null,
    webhook: null,
    webhookSecret: null,
  };
}

/** A flag as it is written on the command line, with a placeholder for its value: `--port N`. */
function flagUsage(spec: FlagSpec): string {
  return spec.kind === 'bool' ? `--${spec.flag}` : `--${spec.flag} ${spec.kind === 'int' ? 'N' : 'VALUE'}`;
}

/** Every flag's name and environment variable, and the variables read from the environment only. */
export function configNames(): { flags: { flag: string; env: string }[]; envOnly: string[] } {
  return { flags: FLAGS.map(({ flag, env }) => ({ flag, env })), envOnly: ENV_ONLY.map(([env]) => env) };
}

export function helpText(): string {
  const lines = ['Usage: node engine/start [flags]', '',
    'Flags (each also read from its environment variable; a flag wins):'];
  for (const f of FLAGS) lines.push(`  ${flagUsage(f).padEnd(24)} ${f.env.padEnd(22)} ${f.help}`);
  lines.push(`  ${'--help'.padEnd(24)} ${''.padEnd(22)} Print this and exit.`, '',
    'Environment only (secrets never go on the command line):');
  for (const [env, help] of ENV_ONLY) lines.push(`  ${env.padEnd(47)} ${help}`);
  return lines.join('\n') + '\n';
}

/** A table cell's text: a `|` would end the cell early. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/**
 * The flags as a Markdown table, for docs/operations.md: the same rows and
 * words as `--help`, then the variables read from the environment only.
 */
export function flagTableMarkdown(): string {
  const rows = ['| Flag | Environment | What it does |', '| --- | --- | --- |'];
  for (const f of FLAGS) rows.push(`| \`${flagUsage(f)}\` | \`${f.env}\` | ${cell(f.help)} |`);
  for (const [env, help] of ENV_ONLY) rows.push(`| (environment only) | \`${env}\` | ${cell(help)} |`);
  return rows.join('\n') + '\n';
}

function parseValue(spec: FlagSpec, raw: string, source: string): number | string | boolean {
  if (spec.kind === 'bool') {
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    throw new ConfigError(`${source}: expected true or false, got "${raw}"`);
  }
  if (spec.kind === 'int') {
    if (!/^[0-9]+$/.test(raw)) throw new ConfigError(`${source}: expected a whole number, got "${raw}"`);
    const value = Number(raw);
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      throw new ConfigError(`${source}: ${value} is outside ${spec.min}..${spec.max}`);
    }
    return value;
  }
  if (raw === '') throw new ConfigError(`${source}: must not be empty`);
  if (spec.choices && !spec.choices.includes(raw)) {
    throw new ConfigError(`${source}: expected one of ${spec.choices.join(', ')}, got "${raw}"`);
  }
  return raw;
}

function assign(config: EngineConfig, spec: FlagSpec, value: number | string | boolean): void {
  (config as unknown as Record<string, unknown>)[spec.key] = value;
}

/** Reads flags and environment; returns null when --help was asked for. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): EngineConfig | null {
  const config = defaultConfig();
  // Which settings a flag or variable gave: a default may follow from another setting.
  const given = new Set<keyof EngineConfig>();
  for (const spec of FLAGS) {
    const raw = env[spec.env];
    // A variable set to nothing counts as unset, as for the secrets.
    if (raw !== undefined && raw !== '') {
      assign(config, spec, parseValue(spec, raw, spec.env));
      given.add(spec.key);
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return null;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new ConfigError(`unknown flag --${name} (see --help)`);
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (spec.kind === 'bool') raw = 'true';
    else {
      if (i + 1 >= argv.length) throw new ConfigError(`--${name} needs a value`);
      raw = argv[++i]!;
    }
    assign(config, spec, parseValue(spec, raw, `--${name}`));
    given.add(spec.key);
  }
  if (config.trustedProxyHeader !== null) {
    if (!/^[a-z0-9-]{1,64}$/i.test(config.trustedProxyHeader)) {
      throw new ConfigError(`--trusted-proxy-header: "${config.trustedProxyHeader}" is not a header name`);
    }
    config.trustedProxyHeader = config.trustedProxyHeader.toLowerCase();
  }
  if (config.rateExempt !== null) {
    const ranges = config.rateExempt.split(',').map((r) => r.trim());
    if (ranges.length > RATE_EXEMPT_RANGES_MAX) {
      throw new ConfigError(`--rate-exempt: ${ranges.length} ranges, at most ${RATE_EXEMPT_RANGES_MAX}`);
    }
    for (const range of ranges) {
      try {
        parseRange(range);
      } catch (error) {
        throw new ConfigError(`--rate-exempt: ${(error as Error).message}`);
      }
    }
  }
  if (!given.has('httpThreads')) config.httpThreads = defaultHttpThreads(config.workers);
  if (config.workers === 0 && config.httpThreads > 1) {
    // The inline shard lives on the main thread's event loop: no other thread can reach it.
    throw new ConfigError(`--http-threads ${config.httpThreads} needs shard workers (--workers 1 or more)`);
  }
  if ((config.ringSlots & (config.ringSlots - 1)) !== 0) {
    throw new ConfigError(`--ring-slots: ${config.ringSlots} is not a power of two`);
  }
  config.dataDir = path.resolve(config.dataDir);
  if (config.saleFile !== null) config.saleFile = path.resolve(config.saleFile);
  config.userSecret = readSecret(env, 'FLASH_USER_SECRET');
  config.ticketSecret = readSecret(env, 'FLASH_TICKET_SECRET');
  config.adminToken = readSecret(env, 'FLASH_ADMIN_TOKEN');
  config.webhookSecret = readSecret(env, 'FLASH_WEBHOOK_SECRET');
  if (config.webhook !== null) checkWebhookUrl(config.webhook);
  return config;
}

/** The webhook must be an absolute http: or https: URL with a host; checked at start-up, not at the first event. */
function checkWebhookUrl(raw: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`--webhook: "${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`--webhook: "${raw}" must be an http:// or https:// URL`);
  }
  if (url.hostname === '') throw new ConfigError(`--webhook: "${raw}" has no host`);
}

function readSecret(env: NodeJS.ProcessEnv, name: string): string | null {
  const value = env[name];
  if (value === undefined || value === '') return null;
  // A short secret can be brute-forced offline from one signed token.
  if (Buffer.byteLength(value) < 32) throw new ConfigError(`${name} must be at least 32 bytes long`);
  return value;
}
