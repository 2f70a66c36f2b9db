// Drives one server with autocannon (used programmatically, in this process)
// and returns what the benchmark reports: requests per second, latency
// percentiles, the status code histogram, errors, and the CPU time this
// process spent generating the load, which tells whether the generator
// rather than the server was the bottleneck.
//
// Buys rotate over a pool of users through one `setupRequest` hook shared by
// all connections: each request takes the next entry of the list, so
// consecutive requests, in flight at the same time on different
// connections, belong to different users. Prebuilt requests (autocannon
// builds each entry's bytes once per connection) cost the generator less,
// about 1.5x the rate (measured against bench/bare-server.ts, 1,000 tokens,
// 100 connections, idle 2-core AMD EPYC: 70,573 and 78,714 against 47,261 and
// 52,003 req/s, autocannon at 102-112 % of a core), but every connection
// walks the list from its first entry, so the connections move through the
// users in step and the same user is in flight on many connections at once,
// which the engine refuses (one buy in flight per user: 429) and no crowd
// does. They are used only for requests without a user (the read storm) and
// while entries x connections stay under PREBUILT_BUFFERS_MAX (autocannon's
// per-connection copies: 100 connections x 100,000 users would be 10^7
// buffers, minutes and gigabytes).
//
// Closed loop: each connection sends its next request when the previous
// answer arrived, so latency grows with connections by construction (Little's
// law). `overallRate` turns it into a rate-limited loop that approximates a
// fixed arrival rate as long as each connection's share of the rate is well
// below 1 / latency; past capacity it cannot send faster than answers come
// back, so the achieved rate is reported next to the offered one.

import { LatencyRecorder, type LatencyPercentiles } from './latency-recorder';

/** Longest a phase may overrun its duration before it is stopped and reported. */
const OVERRUN_MS_MAX = 30_000;
/** Most request buffers autocannon is given to prebuild: the list's length times the connections. */
const PREBUILT_BUFFERS_MAX = 200_000;
/** Seconds autocannon waits for one answer before counting a timeout. */
const REQUEST_TIMEOUT_SECONDS = 10;

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
}

interface AutocannonLatency { p50: number; p90: number; p99: number; p99_9: number; average: number; max: number }

interface AutocannonRequest extends LoadRequest {
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  resets: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: AutocannonLatency;
  requests: { average: number; total: number };
}

/** An event emitter with `then` bound to the run's result (not a full Promise). */
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  stop(): void;
  on(event: 'response',
    listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): void;
}

type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

// autocannon ships no type declarations; the interfaces above are the part this file uses.
const autocannon = require('autocannon') as Autocannon;

export interface LoadOptions {
  port: number;
  requests: readonly LoadRequest[];
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections (open-loop approximation); absent: closed loop. */
  overallRate?: number;
  /** autocannon worker threads (0: all in this thread). Per-outcome latency needs 0. */
  workers?: number;
  /** wrk threads (-t), for runWrkLoad; 1 when absent. */
  wrkThreads?: number;
  /** Record latency apart for 2xx answers (wins) and the rest (refusals). */
  latencyByOutcome?: boolean;
}

export interface LoadResult {
  durationSeconds: number;
  requestsPerSecondMean: number;
  requestsCompleted: number;
  latencyP50Ms: number;
  latencyP90Ms: number;
  latencyP99Ms: number;
  latencyP999Ms: number;
  latencyMeanMs: number;
  latencyMaxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets: number;
  /** Answers by HTTP status code, e.g. {"200": 123}. */
  statusCounts: Record<string, number>;
  /** With latencyByOutcome: wins (2xx) and refusals (the rest) apart. */
  latencyWon: LatencyPercentiles | null;
  latencyRefused: LatencyPercentiles | null;
  /** User plus system CPU the generator used during the phase (all its threads). */
  generatorCpuMs: number;
  /** generatorCpuMs over the phase's wall time: near 1.0 means the generator used a whole core. */
  generatorCpuShare: number;
  /** Generator threads or processes the CPU was spread over: saturation is judged per thread. */
  generatorThreads: number;
  /** True when the phase had to be stopped past its duration plus OVERRUN_MS_MAX. */
  overran: boolean;
}

/** One prebuilt buy per user token, all to `path`. */
export function buyRequests(path: string, tokens: readonly string[]): LoadRequest[] {
  return tokens.map((token) => ({
    method: 'POST', path, headers: { authorization: `Bearer ${token}`, 'content-length': '0' },
  }));
}

const prebuilt = (requests: readonly LoadRequest[], connections: number): boolean =>
  requests.every((request) => request.headers.authorization === undefined)
  && requests.length * connections <= PREBUILT_BUFFERS_MAX;

/** The list as autocannon gets it: prebuilt, or one request that becomes the next of the list each time. */
function autocannonRequests(requests: readonly LoadRequest[], connections: number): AutocannonRequest[] {
  if (prebuilt(requests, connections)) return [...requests];
  let next = 0;
  const setupRequest = (request: AutocannonRequest): AutocannonRequest => {
    const chosen = requests[next]!;
    next = next + 1 === requests.length ? 0 : next + 1;
    request.method = chosen.method;
    request.path = chosen.path;
    request.headers = chosen.headers;
    return request;
  };
  return [{ ...requests[0]!, setupRequest }];
}

/** Loads the server for `durationSeconds` and reports the phase. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  // Worker threads cannot share a setupRequest closure or per-answer events.
  const workers = options.latencyByOutcome || !prebuilt(options.requests, options.connections)
    ? 0
    : options.workers ?? 0;
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const instance = autocannon({
    url: `http://127.0.0.1:${options.port}`,
    connections: options.connections,
    pipelining: 1,
    duration: options.durationSeconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    requests: autocannonRequests(options.requests, options.connections),
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
    ...(workers > 0 ? { workers } : {}),
  });
  const won = options.latencyByOutcome ? new LatencyRecorder() : null;
  const refused = options.latencyByOutcome ? new LatencyRecorder() : null;
  if (won !== null && refused !== null) {
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) =>
      (statusCode < 300 ? won : refused).record(responseTimeMs));
  }
  let overran = false;
  const guard = setTimeout(() => {
    overran = true;
    instance.stop();
  }, options.durationSeconds * 1000 + OVERRUN_MS_MAX);
  let result: AutocannonResult;
  try {
    result = await instance;
  } finally {
    clearTimeout(guard);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - wallBefore;
  const generatorCpuMs = (cpu.user + cpu.system) / 1000;
  const statusCounts: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats)) statusCounts[code] = stats.count;
  return {
    durationSeconds: result.duration,
    requestsPerSecondMean: result.requests.total / result.duration,
    requestsCompleted: result.requests.total,
    latencyP50Ms: result.latency.p50,
    latencyP90Ms: result.latency.p90,
    latencyP99Ms: result.latency.p99,
    latencyP999Ms: result.latency.p99_9,
    latencyMeanMs: result.latency.average,
    latencyMaxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    resets: result.resets,
    statusCounts,
    latencyWon: won?.percentiles() ?? null,
    latencyRefused: refused?.percentiles() ?? null,
    generatorCpuMs,
    generatorCpuShare: generatorCpuMs / wallMs,
    generatorThreads: Math.max(1, workers),
    overran,
  };
}
