// Starts a fresh redis-server for the Redis peer (bench/redis-peer.ts), on
// 127.0.0.1 and a free port, in a temporary directory, and stops it.
//
// Persistence is off (`--save '' --appendonly no`): the peer's every write
// stays in memory, which is the fastest Redis can be and so the most
// generous setting for the peer. (appendonly everysec would be the closest
// to the engine's durability, a write() per batch to the page cache; it
// would only slow the peer down.)

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './http-threads';
import { startServer, type ServerProcess } from './server-process';

export const REDIS_PERSISTENCE = "--save '' --appendonly no (in memory only)";

/** The path of redis-server, or null if it is not installed. */
export function redisServerPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export interface RedisServer { process: ServerProcess; directory: string; stop: () => Promise<void> }

export async function startRedisServer(cpus: string | null): Promise<RedisServer> {
  const program = redisServerPath();
  if (program === null) throw new Error('redis-server is not installed: the Redis peer cannot run');
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-bench-redis-'));
  // redis-server cannot take port 0.
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory,
    '--loglevel', 'notice', '--protected-mode', 'yes'];
  const server = await startServer({ command: program, args, env: process.env, cwd: directory, cpus },
    (line) => (String(line.msg).includes('Ready to accept connections') ? port : null));
  return {
    process: server,
    directory,
    stop: async () => {
      await server.stop();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
