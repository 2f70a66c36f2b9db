// A shopper's WebSocket to the running engine (the `ws` package, real
// socket on 127.0.0.1): sends MessagePack frames and waits for the ones
// that match, each wait bounded in time.

import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';

export type Frame = Record<string, unknown>;

export interface WsClient {
  ws: WebSocket;
  frames: Frame[];
  send(frame: unknown): void;
  /** Resolves with the first frame (already received or to come) that `match` accepts. */
  next(match: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export function connectWs(port: number,
  options: { token?: string; headers?: Record<string, string> } = {}): Promise<WsClient> {
  const query = options.token === undefined ? '' : `?token=${encodeURIComponent(options.token)}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, { headers: options.headers });
  const frames: Frame[] = [];
  const waiters: { match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }[] = [];
  ws.on('message', (data: Buffer) => {
    const frame = unpack(data) as Frame;
    frames.push(frame);
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i]!.match(frame)) {
        waiters[i]!.resolve(frame);
        waiters.splice(i, 1);
        break;
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const client: WsClient = {
    ws, frames, closed,
    send: (frame) => ws.send(pack(frame)),
    next: (match, timeoutMs = 10_000) => {
      const seen = frames.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching frame in time')), timeoutMs);
        waiters.push({ match, resolve: (frame) => { clearTimeout(timer); resolve(frame); } });
      });
    },
    close: () => ws.terminate(),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}
