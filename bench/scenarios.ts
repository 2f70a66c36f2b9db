// The scenarios of the bench suite (bench/bench-suite.ts), each a sale, a
// crowd of users, the requests they send and the systems measured under
// them. Every system of every scenario starts fresh: its own processes and
// its own data directory, so that no scenario inherits another's state.
//
// Systems are named "<system> <generator>": "bare", "peer" and "engine w<N>"
// (--workers N) loaded by autocannon; "(wrk)" marks the same load sent by wrk
// as a cross-check; "open <P>%" a fixed arrival rate at P % of the engine's
// capacity. Each row's ratios are to the bare endpoint and to the peer
// measured in the same run with the same generator.

import os from 'node:os';
import { saleOf, type Sale } from './bench-sale';
import { buyRequests, type LoadRequest } from './load-generator';
import type { SystemSpec } from './system-under-test';

export type GeneratorName = 'autocannon' | 'wrk' | 'ws';

export interface Variant {
  name: string;
  spec: SystemSpec;
  generator: GeneratorName;
  /** Open loop: offered rate as a fraction of the engine's capacity in this run. */
  rateOfCapacity?: number;
  /** The variant this one's "vs bare" ratio is taken against (same generator). */
  bare: string | null;
  /** The variant this one's "vs peer" ratio is taken against, if any. */
  peer: string | null;
  /** The same system built from another checkout (bench --compare), for the "vs compare" ratio. */
  compare?: string;
  /** Every buy carries a fresh Idempotency-Key (autocannon only). */
  keyed?: boolean;
  /** For a keyed variant, the same system and generator without keys, for the "vs keys off" ratio. */
  keysOff?: string;
}

export interface Scenario {
  name: string;
  /** What it measures, for the report. */
  summary: string;
  sale: () => Sale;
  users: number;
  connections: number;
  /** The requests every connection cycles through, built from the buy paths the system gave out. */
  requests: (buyPaths: Map<string, string>, tokens: readonly string[]) => LoadRequest[];
  variants: Variant[];
  /** Record latency of wins and of refusals apart (costs the generator a callback per answer). */
  latencyByOutcome: boolean;
  /** False for reads only: then a 200 is not a won order. */
  buys: boolean;
}

/** The per-user limit of scenarios where users buy again and again: the engine's maximum. */
export const PER_USER_LIMIT_MAX = 65_535;
/** Connections of the headline point; overload uses ten times as many. */
export const BEST_POINT_CONNECTIONS = 100;
/** --workers N for the sharded variants: half the cores, at least 2. */
export const SHARDED_WORKERS = Math.max(2, Math.floor(os.availableParallelism() / 2));
const MANY_ITEMS = 1_000;

const variant = (name: string, spec: SystemSpec, generator: GeneratorName, bare: string | null,
  peer: string | null): Variant => ({ name, spec, generator, bare, peer });
const BARE = variant('bare', { kind: 'bare' }, 'autocannon', null, null);
const PEER = variant('peer', { kind: 'peer' }, 'autocannon', 'bare', null);
/** The peer that also refuses a sold-out item without Redis, as the engine does (bench/redis-peer.ts). */
const PEER_MEMO = variant('peer memo', { kind: 'peer', soldOutMemo: true }, 'autocannon', 'bare', null);
const engine = (workers: number): Variant =>
  variant(`engine w${workers}`, { kind: 'engine', workers }, 'autocannon', 'bare', 'peer');
/**
 * engine w0 with an Idempotency-Key on every buy, beside engine w0 without:
 * what keys cost the hot item's buy rate, measured in the same run.
 */
const ENGINE_KEYED: Variant = { ...engine(0), name: 'engine w0 keyed', keyed: true, keysOff: 'engine w0' };
const WRK_TRIO: Variant[] = [
  variant('bare (wrk)', { kind: 'bare' }, 'wrk', null, null),
  variant('peer (wrk)', { kind: 'peer' }, 'wrk', 'bare (wrk)', null),
  variant('engine w0 (wrk)', { kind: 'engine', workers: 0 }, 'wrk', 'bare (wrk)', 'peer (wrk)'),
];
/** The same with wrk, whose C generator leaves the engine more of the machine than autocannon. */
const ENGINE_KEYED_WRK: Variant = {
  ...WRK_TRIO[2]!, name: 'engine w0 keyed (wrk)', keyed: true, keysOff: 'engine w0 (wrk)',
};

/** One buy request per token, all for the sale's only item. */
function hotItemRequests(buyPaths: Map<string, string>, tokens: readonly string[]): LoadRequest[] {
  const [path] = [...buyPaths.values()];
  if (path === undefined) throw new Error('the system gave no buy path for the hot item');
  return buyRequests(path, tokens);
}

/**
 * Users spread over the items: request k is user k mod users buying item
 * k * 7 mod items (7 is coprime with powers of ten), as many requests as the
 * larger of the two, so that every user and every item is in the cycle.
 */
export function spreadRequests(buyPaths: Map<string, string>, tokens: readonly string[]): LoadRequest[] {
  const paths = [...buyPaths.values()];
  const count = Math.max(paths.length, tokens.length);
  return Array.from({ length: count },
    (_, k) => buyRequests(paths[(k * 7) % paths.length]!, [tokens[k % tokens.length]!])[0]!);
}

const READ_REQUESTS: LoadRequest[] = [
  { method: 'GET', path: '/api/items', headers: {} }, { method: 'GET', path: '/sale.js', headers: {} },
];

/**
 * With --compare DIR, every closed-loop engine variant gets a twin run from
 * DIR's build right after it in each run, and its "vs compare" ratio is taken
 * against that twin in the same run: a change measured against the commit
 * before it on the same machine at the same moment.
 */
function withCompareTwins(variants: Variant[], compareRoot: string | null): Variant[] {
  if (compareRoot === null) return variants;
  return variants.flatMap((variant) => {
    if (variant.spec.kind !== 'engine' || variant.rateOfCapacity !== undefined) return [variant];
    const twin: Variant = {
      ...variant, name: `${variant.name} @compare`, spec: { ...variant.spec, root: compareRoot },
    };
    return [{ ...variant, compare: twin.name }, twin];
  });
}

export function scenarios(quick: boolean, compareRoot: string | null = null): Scenario[] {
  return baseScenarios(quick).map((scenario) =>
    ({ ...scenario, variants: withCompareTwins(scenario.variants, compareRoot) }));
}

function baseScenarios(quick: boolean): Scenario[] {
  const hotLarge = (): Sale => saleOf('hot', 1, 10_000_000, PER_USER_LIMIT_MAX);
  return [
    {
      name: 'hot-small',
      summary: 'one hot item, stock 100, limit 1, 100,000 distinct users: all but 100 buys are fast sold_out refusals',
      sale: () => saleOf('hot', 1, 100, 1), users: 100_000, connections: BEST_POINT_CONNECTIONS,
      requests: hotItemRequests,
      variants: [BARE, PEER, engine(0), ...(quick ? [] : [PEER_MEMO, ...WRK_TRIO])], latencyByOutcome: false,
      buys: true,
    },
    {
      name: 'hot-large',
      summary: 'one hot item, stock 10^7, limit 65,535, 1,000 users: nearly every buy wins, log and SQLite in the path',
      sale: hotLarge, users: 1_000, connections: BEST_POINT_CONNECTIONS, requests: hotItemRequests,
      variants: [BARE, PEER, engine(0), ENGINE_KEYED, ...WRK_TRIO, ENGINE_KEYED_WRK], latencyByOutcome: false,
      buys: true,
    },
    {
      name: 'many-items',
      summary: `${MANY_ITEMS.toLocaleString('en-US')} items, stock 10,000 each, 20,000 users spread over them, ` +
        `--workers 0 and ${SHARDED_WORKERS}`,
      sale: () => saleOf('item', MANY_ITEMS, 10_000, PER_USER_LIMIT_MAX), users: 20_000,
      connections: BEST_POINT_CONNECTIONS, requests: spreadRequests,
      variants: [BARE, PEER, engine(0), engine(SHARDED_WORKERS)], latencyByOutcome: false, buys: true,
    },
    {
      name: 'ws',
      summary: 'hot-large over /ws: MessagePack buy frames, one user per socket, one frame in flight per socket',
      sale: hotLarge, users: BEST_POINT_CONNECTIONS, connections: BEST_POINT_CONNECTIONS, requests: () => [],
      variants: [
        variant('bare', { kind: 'bare' }, 'ws', null, null), variant('peer', { kind: 'peer' }, 'ws', 'bare', null),
        variant('engine w0', { kind: 'engine', workers: 0 }, 'ws', 'bare', 'peer'),
      ],
      latencyByOutcome: false, buys: true,
    },
    {
      name: 'overload',
      summary: `hot-large at ${10 * BEST_POINT_CONNECTIONS} connections (10x the best point), ` +
        `then a fixed arrival rate at 50/90/110 % of capacity; wins and refusals timed apart`,
      sale: hotLarge, users: 1_000, connections: 10 * BEST_POINT_CONNECTIONS, requests: hotItemRequests,
      // wrk too: at 1,000 connections autocannon's one thread is the limit for every system.
      variants: [
        BARE, PEER, engine(0), ...(quick ? [] : [WRK_TRIO[0]!, WRK_TRIO[2]!]),
        ...[0.5, 0.9, 1.1].map((fraction) => ({
          ...engine(0), name: `engine w0 open ${Math.round(fraction * 100)}%`, rateOfCapacity: fraction,
          bare: null, peer: null,
        })),
      ],
      latencyByOutcome: true, buys: true,
    },
    {
      name: 'read-storm', summary: 'GET /api/items and GET /sale.js alternately (10 items), no buys',
      sale: () => saleOf('item', 10, 1_000, 1), users: 1, connections: BEST_POINT_CONNECTIONS,
      requests: () => READ_REQUESTS,
      variants: [BARE, PEER, engine(0)], latencyByOutcome: false, buys: false,
    },
  ];
}
