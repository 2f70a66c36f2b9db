// Drives one server with autocannon (used programmatically, in this process)
// and returns what the benchmark reports: requests per second, latency
// percentiles, the status code histogram, errors, and the CPU time this
// process spent generating the load, which tells whether the generator
// rather than the server was the bottleneck.
//
// Buys rotate over a pool of user tokens, so that the engine sees many users
// as in a real sale. Two ways to rotate, selectable with --tokens:
//
//   prebuilt       one autocannon request per user, each with its own fixed
//                  Authorization header; autocannon builds every request's
//                  bytes once and each connection cycles through all of them.
//   setup-request  one request with a `setupRequest` hook that sets the next
//                  token; autocannon rebuilds the request bytes (and clones
//                  its context) for every single request.
//
// Both send the same bytes for a given user. "prebuilt" is the default
// because it costs the generator nothing per request, so more of the
// generator's one core goes into load. Measured against bench/bare-server.ts
// (1,000 tokens, 100 connections, 5 s after a 2 s warm-up, idle 2-core AMD
// EPYC, node 20, two alternating rounds): prebuilt 70,573 and 78,714 req/s,
// setup-request 47,261 and 52,003 req/s, autocannon at 102 to 112 % of a core
// in all four, so the generator was the limit: prebuilt is about 1.5x faster.

/** Longest a phase may overrun its duration before it is stopped and reported. */
const OVERRUN_MS_MAX = 30_000;
/** Seconds autocannon waits for one answer before counting a timeout. */
const REQUEST_TIMEOUT_SECONDS = 10;

export type TokenMode = 'prebuilt' | 'setup-request';
export const TOKEN_MODES: readonly TokenMode[] = ['prebuilt', 'setup-request'];

interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  resets: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
}

/** An event emitter with `then` and `catch` bound to the run's result (not a full Promise). */
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  stop(): void;
}

type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

// autocannon ships no type declarations; the interfaces above are the part this file uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

export interface LoadOptions {
  port: number;
  path: string;
  tokens: readonly string[];
  tokenMode: TokenMode;
  connections: number;
  durationSeconds: number;
}

export interface LoadResult {
  durationSeconds: number;
  requestsPerSecondMean: number;
  requestsCompleted: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMeanMs: number;
  latencyMaxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets: number;
  /** Answers by HTTP status code, e.g. {"200": 123}. */
  statusCounts: Record<string, number>;
  /** User plus system CPU this process used during the phase. */
  generatorCpuMs: number;
  /** generatorCpuMs over the phase's wall time: near 1.0 means the generator used a whole core. */
  generatorCpuShare: number;
  /** True when the phase had to be stopped past its duration plus OVERRUN_MS_MAX. */
  overran: boolean;
}

function buyRequests(options: LoadOptions): AutocannonRequest[] {
  const headersOf = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}`, 'content-length': '0' });
  if (options.tokenMode === 'prebuilt') {
    return options.tokens.map((token) => ({ method: 'POST', path: options.path, headers: headersOf(token) }));
  }
  let next = 0;
  return [{
    method: 'POST', path: options.path, headers: headersOf(options.tokens[0]!),
    setupRequest: (request) => {
      request.headers = headersOf(options.tokens[next]!);
      next = (next + 1) % options.tokens.length;
      return request;
    },
  }];
}

/** Loads the server for `durationSeconds` and reports the phase. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const instance = autocannon({
    url: `http://127.0.0.1:${options.port}`,
    connections: options.connections,
    pipelining: 1,
    duration: options.durationSeconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    requests: buyRequests(options),
  });
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
    requestsPerSecondMean: result.requests.average,
    requestsCompleted: result.requests.total,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyMeanMs: result.latency.average,
    latencyMaxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    resets: result.resets,
    statusCounts,
    generatorCpuMs,
    generatorCpuShare: generatorCpuMs / wallMs,
    overran,
  };
}
