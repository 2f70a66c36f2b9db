// The wrk cross-check of the bench suite's hot-item scenarios: the same
// buys as load-generator.ts sends with autocannon, from wrk, a C load
// generator, with bench/wrk-buy.lua rotating the user tokens. One autocannon
// process tops out at one JavaScript thread; wrk needs several times less CPU
// per request, so when both generators report the same req/s the server is
// the limit, and when wrk reports more, autocannon was.
//
// wrk runs one thread (-t1) unless asked for more (LoadOptions.wrkThreads),
// like autocannon's one JavaScript thread, so that on a 2-core machine the
// generator keeps to one core and the server has the other. Servers on
// several HTTP threads with cores to spare (bench/scaling.ts) need more.
// wrk reports non-2xx/3xx answers only as a count (errors.status), so
// statusCounts holds those two classes; the engine's only 2xx or 3xx answer
// to a buy is 200 won, so the first class counts wins.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadOptions, LoadResult } from './load-generator';
import { processCpuMs, trackChild } from './server-process';

const SCRIPT = path.resolve(__dirname, '..', '..', 'bench', 'wrk-buy.lua');
/** Longest wrk may overrun its duration before it is killed and the phase reported as failed. */
const OVERRUN_MS_MAX = 30_000;
/** How often wrk's CPU time is sampled; the last sample misses at most this much of it. */
const CPU_SAMPLE_MS = 100;
const REQUEST_TIMEOUT_SECONDS = 10;

interface WrkSummary {
  requests: number; durationUs: number; connectErrors: number; readErrors: number; writeErrors: number;
  statusErrors: number; timeouts: number; latencyP50Us: number; latencyP90Us: number; latencyP99Us: number;
  latencyP999Us: number; latencyMeanUs: number; latencyMaxUs: number;
}

/** The path of wrk, or null if it is not installed. */
export function wrkPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Runs wrk to its end; returns its stdout and the last CPU time sampled from /proc. */
function runWrk(args: string[],
  durationSeconds: number): Promise<{ stdout: string; cpuMs: number | null; wallMs: number }> {
  const started = performance.now();
  const proc = trackChild(spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  let cpuMs: number | null = null;
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const sampler = setInterval(() => (cpuMs = processCpuMs(proc.pid!) ?? cpuMs), CPU_SAMPLE_MS);
  const killer = setTimeout(() => proc.kill('SIGKILL'), durationSeconds * 1000 + OVERRUN_MS_MAX);
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearInterval(sampler);
      clearTimeout(killer);
      if (code !== 0) reject(new Error(`wrk ${args.join(' ')} exited with ${code}: ${stderr.trim()}${stdout.trim()}`));
      else resolve({ stdout, cpuMs, wallMs: performance.now() - started });
    });
  });
}

/** The token of each request; wrk's script rotates them on the one path all requests share. */
function tokensOf(options: LoadOptions): { path: string; tokens: string[] } {
  const path = options.requests[0]!.path;
  const tokens = options.requests.map((request) => {
    if (request.method !== 'POST' || request.path !== path) {
      throw new Error('wrk cross-check: every request must be a POST to one path');
    }
    return request.headers.authorization!.slice('Bearer '.length);
  });
  return { path, tokens };
}

/** Loads the server with wrk for `durationSeconds` and reports the phase like runLoad does. */
export async function runWrkLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.overallRate !== undefined) {
    throw new Error('wrk cross-check: no fixed arrival rate (wrk2 would be needed)');
  }
  const { path: urlPath, tokens } = tokensOf(options);
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-bench-wrk-'));
  const tokensFile = path.join(directory, 'tokens.txt');
  fs.writeFileSync(tokensFile, `${tokens.join('\n')}\n`);
  const url = `http://127.0.0.1:${options.port}${urlPath}`;
  const threads = Math.min(options.wrkThreads ?? 1, options.connections);
  const args = [`-t${threads}`, `-c${options.connections}`, `-d${options.durationSeconds}s`, `--timeout`,
    `${REQUEST_TIMEOUT_SECONDS}s`, '-s', SCRIPT, url, '--', tokensFile];
  let run: Awaited<ReturnType<typeof runWrk>>;
  try {
    run = await runWrk(args, options.durationSeconds);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
  const { stdout, cpuMs, wallMs } = run;
  const line = stdout.split('\n').find((text) => text.startsWith('{"wrk":'));
  if (line === undefined) throw new Error(`wrk printed no summary line: ${stdout}`);
  const summary = JSON.parse(line) as WrkSummary;
  const seconds = summary.durationUs / 1e6;
  return {
    durationSeconds: seconds,
    requestsPerSecondMean: summary.requests / seconds,
    requestsCompleted: summary.requests,
    latencyP50Ms: summary.latencyP50Us / 1000,
    latencyP90Ms: summary.latencyP90Us / 1000,
    latencyP99Ms: summary.latencyP99Us / 1000,
    latencyP999Ms: summary.latencyP999Us / 1000,
    latencyMeanMs: summary.latencyMeanUs / 1000,
    latencyMaxMs: summary.latencyMaxUs / 1000,
    non2xx: summary.statusErrors,
    errors: summary.connectErrors + summary.readErrors + summary.writeErrors,
    timeouts: summary.timeouts,
    resets: 0,
    statusCounts: { '2xx/3xx': summary.requests - summary.statusErrors, 'non-2xx/3xx': summary.statusErrors },
    latencyWon: null,
    latencyRefused: null,
    generatorCpuMs: cpuMs ?? 0,
    generatorCpuShare: cpuMs === null ? 0 : cpuMs / wallMs,
    generatorThreads: threads,
    overran: false,
  };
}
